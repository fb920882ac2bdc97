"""Start a server process on a free port, wait until it answers, stop it by PID; and a light
stand-in for a browser tab that speaks NiceGUI's protocol (`ProtocolClient`)."""
from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

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


# ---- a browser stand-in that speaks NiceGUI's protocol ----------------------------------------------------
_QUERY_RE = re.compile(r'^\s*query: (\{.*\}),\s*$', re.MULTILINE)
_ELEMENTS_RE = re.compile(r'parseElements\(String\.raw`(.*?)`\)', re.DOTALL)
_UNESCAPE = (('&#36;', '$'), ('&#96;', '`'), ('&gt;', '>'), ('&lt;', '<'), ('&amp;', '&'))
_RUN_METHOD_RE = re.compile(r'runMethod\((\d+), "(\w+)", \[?"?(\w*)')
AFTERPLOT = 'plotly_afterplot'
ACK_INTERVAL = 3.0  # how often NiceGUI's page acknowledges the messages it got


def page_query_and_elements(html: str) -> tuple[dict, dict]:
    """The socket.io query (client id, next message id, implicit handshake) and the element tree
    that NiceGUI writes into a page."""
    query = ast.literal_eval(_QUERY_RE.search(html).group(1))
    raw = _ELEMENTS_RE.search(html).group(1)
    for escaped, plain in _UNESCAPE:
        raw = raw.replace(escaped, plain)
    return query, json.loads(raw)


class ProtocolClient:
    """One browser tab without a browser: it loads a page and opens the page's socket.io
    connection with the page's own query, as NiceGUI's page script does (client id, next message
    id, a fresh document and tab id, implicit handshake). The server then does for it all it does
    for a browser: builds the page, serialises and sends every update.

    What the page's scripts would send back is sent too: plotly's redraw event after each render
    and `extendTraces` of a chart (as often as the listener's throttle lets it; only the first one
    when the listener has a JavaScript handler, which in this app reports first redraws only),
    and an acknowledgement of the messages every few seconds. The app's live feed (`ot_live`)
    arrives like any other message. Counts what arrives in `messages`
    (by type) and `received_bytes`.
    """

    def __init__(self, url: str, path: str = '/'):
        self.url = url
        self.path = path
        self.messages: dict[str, int] = {}
        self.received_bytes = 0
        self.elements: dict[str, dict] = {}
        self._sio = None
        self._query: dict = {}
        self._next_message_id = 0
        self._last_report: dict[str, float] = {}  # element id -> when its last redraw was reported
        self._tasks: set = set()

    async def connect(self, session) -> None:
        """Load the page with `session` (an aiohttp.ClientSession) and connect its socket."""
        import socketio

        async with session.get(self.url + self.path) as response:
            response.raise_for_status()
            html = await response.text()
        query, self.elements = page_query_and_elements(html)
        self._next_message_id = int(query['next_message_id'])
        query.update(document_id=str(uuid.uuid4()), tab_id=str(uuid.uuid4()))
        self._query = query
        self._sio = socketio.AsyncClient(reconnection=False, http_session=session)
        for name in ('update', 'run_javascript', 'notify', 'load_js_components', 'open', 'download', 'ot_live'):
            self._sio.on(name, self._handler(name))
        text = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in query.items()}
        await self._sio.connect(f'{self.url}/?{urlencode(text)}', socketio_path='/_nicegui_ws/socket.io',
                                transports=['websocket'], wait_timeout=10)
        for element_id in self.elements:
            self._redrawn(element_id)
        self._spawn(self._ack_loop())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._sio is not None:
            await self._sio.disconnect()

    def _handler(self, name: str):
        async def handle(data: dict) -> None:
            self.messages[name] = self.messages.get(name, 0) + 1
            self.received_bytes += len(json.dumps(data))
            if isinstance(data, dict) and '_id' in data:
                self._next_message_id = max(self._next_message_id, int(data.pop('_id')) + 1)
            if name == 'update':
                for element_id, element in data.items():
                    if element is None:
                        self.elements.pop(element_id, None)
                        continue
                    self.elements[element_id] = element
                    self._redrawn(element_id)
            elif name == 'run_javascript':
                for element_id, method, plot_method in _RUN_METHOD_RE.findall(data.get('code', '')):
                    if method == 'extendTraces' or plot_method == 'extendTraces':
                        self._redrawn(element_id)
        return handle

    def _afterplot(self, element_id: str) -> dict | None:
        element = self.elements.get(element_id) or {}
        return next((e for e in element.get('events', []) if e.get('type') == AFTERPLOT), None)

    def _redrawn(self, element_id: str) -> None:
        """plotly.js has drawn the chart (after a render or an `extendTraces`): report it as the
        page would."""
        listener = self._afterplot(element_id)
        if listener is None:
            return
        now = time.monotonic()
        if listener.get('js_handler'):
            if element_id in self._last_report:
                return  # this app's JavaScript handler reports a chart's first redraw only
        elif now - self._last_report.get(element_id, -math.inf) < (listener.get('throttle') or 0.0):
            return
        self._last_report[element_id] = now
        self._spawn(self._send_event(element_id, listener))

    async def _send_event(self, element_id: str, listener: dict) -> None:
        await self._sio.emit('event', {'id': int(element_id), 'client_id': self._query['client_id'],
                                       'listener_id': listener['listener_id'], 'args': []})

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            await self._sio.emit('ack', {'client_id': self._query['client_id'],
                                         'next_message_id': self._next_message_id})

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
