"""`python -m ot_nicegui --native` under Xvfb: the window's page connects, closing it stops the app."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.harness import ARTIFACTS, REPO_ROOT, run_app, stop
from ot_nicegui import native

DEBIAN_PACKAGES = Path('/usr/lib/python3/dist-packages')
TOKEN = 'native-test-token'


def _gtk_path(tmp: Path) -> str | None:
    """A PYTHONPATH entry that makes Debian's GObject bindings importable (None: not needed),
    or skip when GTK/WebKit2GTK cannot be loaded."""
    probe = ("import gi; gi.require_version('Gtk', '3.0'); gi.require_version('WebKit2', '4.1'); "
             "from gi.repository import Gtk, WebKit2")
    candidates = [None]
    if (DEBIAN_PACKAGES / 'gi').is_dir():
        link_dir = tmp / 'gi-link'
        link_dir.mkdir()
        for name in ('gi', 'cairo'):
            if (DEBIAN_PACKAGES / name).exists():
                (link_dir / name).symlink_to(DEBIAN_PACKAGES / name)
        candidates.append(str(link_dir))
    for entry in candidates:
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [entry, str(REPO_ROOT)]))}
        if subprocess.run([sys.executable, '-c', probe], env=env, capture_output=True, timeout=60).returncode == 0:
            return entry or ''
    pytest.skip('GTK 3 with WebKit2GTK 4.1 is not available (apt: python3-gi gir1.2-webkit2-4.1)')


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(['Xvfb', '-displayfd', str(write_fd), '-screen', '0', '1280x900x24', '-nolisten', 'tcp'],
                               pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        stop(process)
        pytest.skip('Xvfb did not start')
    return process, f':{number}'


def _send_close(display_name: str, title: str) -> bool:
    """Ask the window to close the way a window manager does (WM_DELETE_WINDOW)."""
    from Xlib import X, display, protocol

    dpy = display.Display(display_name)
    try:
        delete = dpy.intern_atom('WM_DELETE_WINDOW')
        protocols = dpy.intern_atom('WM_PROTOCOLS')
        pending = [dpy.screen().root]
        while pending:
            window = pending.pop()
            if window.get_wm_name() == title and delete in (window.get_wm_protocols() or []):
                event = protocol.event.ClientMessage(window=window, client_type=protocols,
                                                     data=(32, [delete, X.CurrentTime, 0, 0, 0]))
                window.send_event(event)
                dpy.flush()
                return True
            pending.extend(window.query_tree().children)
        return False
    finally:
        dpy.close()


@pytest.mark.skipif(shutil.which('Xvfb') is None, reason='Xvfb is not installed (tests/setup_system.sh)')
def test_native_window_connects_and_closing_it_stops_the_app(tmp_path):
    pytest.importorskip('webview', reason='pywebview is not installed (the "native" extra)')
    pytest.importorskip('Xlib', reason='python-xlib is not installed (the "dev" extra)')
    gtk_path = _gtk_path(tmp_path)
    xvfb, display_name = _start_xvfb()
    env = {'DISPLAY': display_name, 'PYWEBVIEW_GUI': 'gtk', 'NO_AT_BRIDGE': '1',
           'WEBKIT_DISABLE_COMPOSITING_MODE': '1', native.TOKEN_ENV: TOKEN}
    if gtk_path:
        env['PYTHONPATH'] = os.pathsep.join([gtk_path, str(REPO_ROOT)])
    try:
        with run_app(tmp_path, '--native', env=env, wait=False, group=True) as app:
            t0 = time.monotonic()
            while native.CONNECTED_MESSAGE not in app.output():
                assert app.process.poll() is None, app.output()[-3000:]
                assert time.monotonic() - t0 < 90, f'the window page never connected:\n{app.output()[-3000:]}'
                time.sleep(0.2)
            connected_after = time.monotonic() - t0
            line = next(x for x in app.output().splitlines() if native.CONNECTED_MESSAGE in x)
            assert 'AppleWebKit' in line  # the client is the embedded WebKit view, not some other browser

            # the close check answers the window process only (token), and reports no run
            state = f'{app.url}{native.STATE_PATH}'
            assert httpx.get(state).status_code == 403
            assert httpx.get(state, headers={native.TOKEN_HEADER: 'wrong'}).status_code == 403
            assert httpx.get(state, headers={native.TOKEN_HEADER: TOKEN}).json() == {'run_active': False}

            time.sleep(2)  # let the page paint before the screenshot
            from PIL import ImageGrab

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ImageGrab.grab(xdisplay=display_name)
            shot.save(ARTIFACTS / 'native-window.png')
            colours = shot.convert('RGB').getcolors(maxcolors=1 << 20)
            assert colours is None or len(colours) > 20, 'the screen is blank'

            # closing the window (no run active) ends the app; on a loaded machine the first close
            # request can go unanswered, so it is repeated (as a user would click again)
            assert _send_close(display_name, 'OT NiceGUI'), 'no window titled "OT NiceGUI"'
            requests = 1
            for waited in range(3):
                try:
                    app.process.wait(15)
                    break
                except subprocess.TimeoutExpired:
                    assert waited < 2, 'closing the window did not stop the app'
                    if _send_close(display_name, 'OT NiceGUI'):  # the window is still there
                        requests += 1
            print(f'window connected after {connected_after:.1f} s; closed with request {requests}')
    finally:
        stop(xvfb)
