"""Inspect config files from the command line.

    python -m modules.cli.config show PATH [--preset] [--secrets]
    python -m modules.cli.config validate PATH [--preset] [--no-paths]

`show` prints the config as the trainer loads it (migrated to the current version, or applied to
the defaults without migration for a sparse built-in preset) as OneTrainer-shaped settings JSON.
`validate` prints every problem; the exit status is 1 when there is an error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from modules.config.base import ConfigError, LoadWarning
from modules.config.presets import load_config_file
from modules.config.validation import errors, validate


def _load(path: str, preset: bool, warnings: list[LoadWarning]):
    return load_config_file(path, preset=preset, warnings=warnings)


def _report_warnings(warnings: list[LoadWarning]) -> None:
    for warning in warnings:
        print(f'warning: {warning}', file=sys.stderr)


def cmd_show(args: argparse.Namespace) -> int:
    warnings: list[LoadWarning] = []
    config = _load(args.path, args.preset, warnings)
    _report_warnings(warnings)
    print(json.dumps(config.to_settings_dict(secrets=False), indent=4, ensure_ascii=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    warnings: list[LoadWarning] = []
    config = _load(args.path, args.preset, warnings)
    _report_warnings(warnings)
    base_dir = args.base_dir if args.base_dir is not None else os.getcwd()
    problems = validate(config, paths=not args.no_paths, base_dir=base_dir)
    for problem in problems:
        print(problem)
    if not problems:
        print('no problems found')
    return 1 if errors(problems) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m modules.cli.config', description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    show = commands.add_parser('show', help='print the loaded config as settings JSON (no secrets)')
    validate_cmd = commands.add_parser('validate', help='print every problem of the config')
    for sub in (show, validate_cmd):
        sub.add_argument('path', help='a saved config, an exported config or a preset file')
        sub.add_argument('--preset', action='store_true',
                         help='load as a sparse built-in preset (applied to the defaults, not migrated)')
    show.set_defaults(func=cmd_show)
    validate_cmd.add_argument('--no-paths', action='store_true', help='skip checks of files and folders')
    validate_cmd.add_argument('--base-dir', default=None,
                              help='folder relative paths are resolved against (default: current folder)')
    validate_cmd.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f'error: cannot load {args.path}: {exc.reason}' if exc.path == args.path else f'error: {exc}',
              file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
