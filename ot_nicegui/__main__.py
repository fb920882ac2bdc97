"""Entry point: `python -m ot_nicegui [--host H] [--port P] [--native] [--config PATH] [--data-dir DIR]`."""
import argparse
import os
import sys
from pathlib import Path

from nicegui import app, ui

from ot_nicegui import api, auth, native
from ot_nicegui.state.job_queue import get_job_queue

DEFAULT_PORT = 8080


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m ot_nicegui', description='OneTrainer-compatible training studio')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (default: 127.0.0.1, this machine only)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT, help=f'port (default: {DEFAULT_PORT})')
    parser.add_argument('--native', action='store_true', help='open in a desktop window instead of a browser')
    parser.add_argument('--config', metavar='PATH',
                        help='start with this config file or preset (a preset name, e.g. "#SD 1.5 LoRA") loaded')
    parser.add_argument('--data-dir', metavar='DIR', default=os.environ.get('OT_DATA_DIR', '.'),
                        help='folder for user presets, the last session and secrets.json '
                             '(default: $OT_DATA_DIR or the current folder)')
    auth.add_arguments(parser)
    return parser.parse_args(argv)


def build(args: argparse.Namespace, login_required: bool = False):
    """Create the session and register the app (with a log-out button when a password is asked);
    returns the session."""
    from modules.config.base import ConfigError
    from ot_nicegui.app import setup
    from ot_nicegui.state.config_session import init_session

    data_dir = Path(args.data_dir)
    builtin = os.environ.get('OT_BUILTIN_PRESETS') or Path(__file__).resolve().parents[1] / 'training_presets'
    session = init_session(data_dir, builtin)
    if args.config:
        try:
            if Path(args.config).is_file():
                session.import_config(args.config)
            else:
                session.load_preset(args.config)
        except ConfigError as exc:
            sys.exit(f'cannot open {args.config}: {exc.reason}')
    else:
        session.restore_last_session()
    setup(session, login_required=login_required)
    return session


def main(argv: list[str] | None = None) -> None:
    # under pytest the process's own arguments belong to pytest
    args = parse_args([] if argv is None and 'PYTEST_CURRENT_TEST' in os.environ else argv)
    secret = auth.load_or_create_secret(Path(args.data_dir))
    authenticator = auth.configure(args.host, args.password, args.no_auth, secret)
    args.password = None  # only the hash is kept
    build(args, login_required=authenticator is not None)
    auth.install(authenticator)
    api.install(app, get_job_queue(), authenticator)
    if args.native:
        native.setup()
    ui.run(host=args.host, port=args.port, native=args.native, title='OT NiceGUI', reload=False, show=False,
           storage_secret=secret, reconnect_timeout=30.0, language='en-US')


if __name__ in {'__main__', '__mp_main__'}:
    main()
