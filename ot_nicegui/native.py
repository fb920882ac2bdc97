"""The desktop window (`--native`): pywebview with GTK or Qt, closing it stops the app.

NiceGUI opens the window in a separate process that re-runs `main()`, so everything here is set
in both processes. When the window is about to close while a training run is active, the window
process asks the server (over a loopback route guarded by a per-start token) and shows a native
confirmation dialog; only a confirmed close goes ahead.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import urllib.request
from urllib.parse import urlsplit

from fastapi import Request  # at module level: FastAPI resolves the route's annotations here
from fastapi.responses import JSONResponse

TOKEN_ENV = 'OT_NATIVE_TOKEN'
STATE_PATH = '/_ot/native/state'
TOKEN_HEADER = 'X-OT-Native-Token'
WINDOW_SIZE = (1280, 860)
MIN_SIZE = (800, 560)
CONNECTED_MESSAGE = 'window connected:'


def run_active() -> bool:
    """Whether a training run is going."""
    from ot_nicegui.state.training_session import get_training_session

    try:
        return get_training_session().busy
    except Exception:  # a failing probe must not keep the window from closing
        return False


def _token() -> str:
    # the window process inherits the environment, so both processes share the same token
    return os.environ.setdefault(TOKEN_ENV, secrets.token_urlsafe(24))


def setup() -> None:
    """Configure the window and register the close check; call inside `main()` before `ui.run`."""
    from nicegui import Client, app

    token = _token()
    app.native.window_args.update(width=WINDOW_SIZE[0], height=WINDOW_SIZE[1], min_size=MIN_SIZE)
    app.native.start_args['func'] = attach_close_guard  # runs in the window process once the GUI loop starts

    @app.get(STATE_PATH, include_in_schema=False)
    def state(request: Request) -> JSONResponse:
        supplied = request.headers.get(TOKEN_HEADER, '')
        peer = request.client.host if request.client else ''
        if peer not in ('127.0.0.1', '::1') or not secrets.compare_digest(supplied, token):
            return JSONResponse({'detail': 'forbidden'}, status_code=403)
        return JSONResponse({'run_active': run_active()})

    def report(client: Client) -> None:
        # proves the window's page loaded and opened its websocket (used by the desktop check)
        agent = client.request.headers.get('user-agent', '') if client.request else ''
        print(f'{CONNECTED_MESSAGE} {agent}', flush=True)

    app.on_connect(report)


# ---- window process -------------------------------------------------------------------------------------
def _ask_server(url: str) -> bool:
    """Whether the server reports an active run; an unreachable server means there is nothing to keep."""
    parts = urlsplit(url)
    request = urllib.request.Request(f'{parts.scheme}://{parts.netloc}{STATE_PATH}',
                                     headers={TOKEN_HEADER: os.environ.get(TOKEN_ENV, '')})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return bool(json.load(response).get('run_active'))
    except (OSError, ValueError):
        return False


def attach_close_guard() -> None:
    """Ask before closing while a run is active (pywebview calls this in the window process)."""
    import webview

    if not webview.windows:
        return
    window = webview.windows[0]
    confirmed = threading.Event()

    def confirm() -> None:
        if window.create_confirmation_dialog(
                'Training is running',
                'Closing the window stops the app and the training run. Close anyway?'):
            confirmed.set()
            window.destroy()

    def closing() -> bool | None:
        # runs on the GUI thread, which a dialog needs too: cancel now and ask from another thread
        if confirmed.is_set() or not _ask_server(window.real_url or ''):
            return None
        threading.Thread(target=confirm, daemon=True).start()
        return False

    window.events.closing += closing
