"""Start a server process on a free port, wait until it answers, stop it by PID."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

HELLO = '''
from nicegui import ui
import sys

@ui.page('/')
def index():
    ui.label('Hello')

ui.run(host='127.0.0.1', port=int(sys.argv[1]), reload=False, show=False)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(kind: str) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """Yield (url, process, seconds until '/' answered) for 'hello' or 'app'."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    with tempfile.TemporaryDirectory() as data:
        if kind == 'hello':
            script = Path(data) / 'hello.py'
            script.write_text(HELLO)
            command = [sys.executable, str(script), str(port)]
        else:
            command = [sys.executable, '-m', 'ot_nicegui', '--port', str(port), '--data-dir', data]
            env['PYTHONPATH'] = str(REPO_ROOT)
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=data, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f'http://127.0.0.1:{port}'
        try:
            while True:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(url + '/', timeout=10).read()
                    break
                if process.poll() is not None or time.perf_counter() - start > 120:
                    raise RuntimeError(f'{kind} server did not start')
                time.sleep(0.02)
            yield url, process, time.perf_counter() - start
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
