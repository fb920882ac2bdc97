"""Headless training, as OneTrainer's scripts/train.py.

    python -m modules.cli.train --config-path CONFIG.json [--preset-path PRESET.json]
        [--secrets-path secrets.json] [--config-value KEY=VALUE ...] [--torch-threads N]

Ctrl-C cancels: the final model is still written when backup_before_save is on (after a backup).
torch keeps its own choice of CPU threads unless --torch-threads is given; the data pipeline uses
the config's dataloader_threads.
"""
from __future__ import annotations

import argparse
import sys

from modules.config.files import load_secrets, read_json
from modules.config.train_config import TrainConfig

_TRUE = {"true", "1", "yes"}


def apply_config_value(config: TrainConfig, assignment: str) -> None:
    """`a.b.c=value`: set a (possibly nested) field; bools accept true/1/yes, the rest is coerced."""
    if "=" not in assignment:
        raise ValueError(f"--config-value needs KEY=VALUE, got {assignment!r}")
    key, value = assignment.split("=", 1)
    *path, leaf = key.strip().split(".")
    owner = config
    for name in path:
        owner = getattr(owner, name)
    field = type(owner).get_field(leaf)
    if field.type is bool:
        setattr(owner, leaf, value.strip().lower() in _TRUE)
    else:
        owner.from_dict({leaf: value}, migrate=False)


def load_train_config(config_path: str, preset_path: str | None = None, secrets_path: str | None = None,
                      config_values: list[str] | None = None) -> TrainConfig:
    config = TrainConfig.default_values()
    if preset_path:
        config.from_dict(read_json(preset_path), migrate=False)
    config.from_dict(read_json(config_path), migrate=not preset_path)
    for assignment in config_values or []:
        apply_config_value(config, assignment)
    config.secrets = load_secrets(secrets_path or "secrets.json", required=secrets_path is not None)
    return config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.train", description="Train from a config file.")
    parser.add_argument("--config-path", required=True)
    parser.add_argument("--preset-path")
    parser.add_argument("--secrets-path")
    parser.add_argument("--config-value", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--torch-threads", type=int, metavar="N",
                        help="CPU threads for torch's operators (default: torch's own choice)")
    # set by a multi-process run for the processes it starts (torchrun sets RANK/WORLD_SIZE instead)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--world-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--init-method", default="env://", help=argparse.SUPPRESS)
    parser.add_argument("--callback-path", help="append every training event to this file, one JSON line each")
    parser.add_argument("--command-path", help="apply the commands appended to this file ({\"command\": \"stop\"} ...)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = load_train_config(args.config_path, args.preset_path, args.secrets_path, args.config_value)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    from modules.config.validation import errors
    from modules.engine import check, create_trainer
    from modules.train import TrainCallbacks, TrainCommands

    problems = check(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    if errors(problems):
        print("training not started: fix the errors above", file=sys.stderr)
        return 2

    def progress(p, max_step, max_epoch):
        print(f"epoch {p.epoch}/{max_epoch} step {p.epoch_step}/{max_step} (global {p.global_step})", flush=True)

    callbacks = TrainCallbacks(on_update_status=lambda s: print(s, flush=True), on_update_train_progress=progress)
    commands = TrainCommands()
    if args.callback_path or args.command_path:  # a remote run: the local side reads and writes these files
        from modules.cloud.run_files import EventWriter, watch_commands

        if args.callback_path:
            callbacks = EventWriter(args.callback_path).callbacks(
                on_update_status=lambda s: print(s, flush=True), on_update_train_progress=progress)
        if args.command_path:
            watch_commands(args.command_path, commands)
    from modules.training_extras import trains_remotely

    if trains_remotely(config):  # the run is on another machine: no process group (and no torch) here
        return _train(create_trainer(config, callbacks, commands), commands)
    from modules.train.distributed import World, join, launched_world, leave, rank_device

    # one process of several (started by torchrun or by a multi-process run): join the others first
    world = World(args.rank, args.world_size) if args.world_size else launched_world()
    if world is not None:
        join(world, rank_device(config, world), args.init_method)
        if not world.is_main:
            callbacks = TrainCallbacks()  # rank 0 reports for all
    try:
        return _train(create_trainer(config, callbacks, commands), commands)
    finally:
        if world is not None:
            leave()


def _train(trainer, commands) -> int:
    from modules.cloud.errors import CloudError
    from modules.train.backups import BackupError

    try:
        trainer.start()
    except (BackupError, CloudError) as exc:  # a damaged backup, a remote run that cannot start: one line
        print(f"error: {exc}", file=sys.stderr)
        trainer.end()  # nothing was trained: only closes the logs
        return 1
    cancelled = False
    try:
        trainer.train()
    except KeyboardInterrupt:
        cancelled = True
        commands.stop()
        print("training cancelled", file=sys.stderr)
    except CloudError as exc:  # the remote run failed or the connection was lost: one line
        print(f"error: {exc}", file=sys.stderr)
        trainer.end()
        return 1
    if not cancelled or trainer.config.backup_before_save:
        trainer.end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
