"""Run-end notifications: the webhook reaches a local HTTP server, retries with growing pauses,
never holds up the session; the URL persists."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from live.support import FakeTrainer
from ot_nicegui.state.notifications import Notifier, post_json
from ot_nicegui.state.training_session import TrainingSession


class Receiver:
    """An HTTP server on 127.0.0.1 that answers each POST with the next status of `answers`."""

    def __init__(self, answers: list[int]):
        self.answers = list(answers)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                length = int(self.headers['Content-Length'])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}/hook'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*answers: int) -> Receiver:
        made.append(Receiver(list(answers)))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_a_failing_endpoint_is_retried_with_doubling_pauses(receiver) -> None:
    hook = receiver(500, 503)
    pauses: list[float] = []
    assert post_json(hook.url, {'n': 1}, sleep=pauses.append)
    assert hook.bodies == [{'n': 1}] * 3 and pauses == [2.0, 4.0]


def test_a_refusal_is_not_retried_and_an_unreachable_endpoint_gives_up(receiver) -> None:
    hook = receiver(404)
    pauses: list[float] = []
    assert not post_json(hook.url, {}, sleep=pauses.append)
    assert len(hook.bodies) == 1 and pauses == []
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(('127.0.0.1', 0))
        dead = f'http://127.0.0.1:{probe.getsockname()[1]}/'
    assert not post_json(dead, {}, attempts=4, sleep=pauses.append)
    assert pauses == [2.0, 4.0, 8.0]


def test_the_end_of_a_run_reaches_the_webhook_and_the_pages(tmp_path: Path, config, fake, receiver) -> None:
    FakeTrainer.steps, FakeTrainer.fail_in = 5, 'train'
    hook = receiver()
    session = TrainingSession()
    notifier = Notifier(tmp_path, session)
    notifier.set_webhook(hook.url)
    shown: list[dict] = []
    notifier.run_ended.subscribe(shown.append)
    session.start(config)
    assert session.wait(10)
    session.drain()
    notifier.threads[-1].join(10)
    body = hook.bodies[0]
    assert body['event'] == 'run_ended' and body['outcome'] == 'failed' and body['error'] == 'loss is nan'
    assert body['title'] == 'Training failed' and body['model_type'] == config.model_type.label
    assert shown == [body]


def test_a_hanging_webhook_never_holds_up_the_session(tmp_path: Path, config, fake) -> None:
    FakeTrainer.steps = 3
    release = threading.Event()
    session = TrainingSession()
    notifier = Notifier(tmp_path, session)
    notifier.set_webhook('http://127.0.0.1:9/never')
    notifier.sender = lambda url, body: release.wait(30)
    for _ in range(2):  # two runs end while the first message still hangs
        session.start(config)
        assert session.wait(10)
        session.drain()
    assert session.last_outcome == 'finished' and len([t for t in notifier.threads if t.is_alive()]) == 2
    release.set()


def test_the_webhook_url_is_checked_and_kept(tmp_path: Path) -> None:
    session = TrainingSession()
    notifier = Notifier(tmp_path, session)
    with pytest.raises(ValueError, match='http'):
        notifier.set_webhook('ftp://example.org/x')
    notifier.set_webhook('  https://hooks.example.org/abc  ')
    assert Notifier(tmp_path, session).webhook_url == 'https://hooks.example.org/abc'
    notifier.set_webhook('')
    assert Notifier(tmp_path, session).webhook_url == '' and notifier.send({}) is None


async def test_the_webhook_is_set_on_the_run_tab_and_pages_are_told_of_the_end(user, monkeypatch) -> None:
    from nicegui import Client

    from ot_nicegui.state.notifications import get_notifier

    await user.open('/?tab=run')
    user.find(marker='webhook-url').type('not a url')
    user.find(marker='webhook-save').click()
    await user.should_see('A webhook URL starts with http')
    assert get_notifier().webhook_url == ''
    user.find(marker='webhook-url').clear().type('https://hooks.example.org/x')
    user.find(marker='webhook-save').click()
    await user.should_see('Webhook saved')
    assert get_notifier().webhook_url == 'https://hooks.example.org/x'

    scripts: list[str] = []
    monkeypatch.setattr(Client, 'run_javascript', lambda self, code, **kw: scripts.append(code))
    get_notifier().run_ended.emit({'title': 'Training finished', 'text': 'Training finished: SD1.5 LoRA'})
    assert any('new Notification("Training finished", {body: "Training finished: SD1.5 LoRA"})' in s
               for s in scripts)
