"""Telling people that a run ended: a webhook (JSON POST) and the browser's notifications.

The webhook is sent from its own thread with retries and growing pauses, so a slow or dead
endpoint never holds up training or the pages. Its URL is kept in the data folder.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from modules.config.files import atomic_write_json, read_json

from .run_events import Outcome
from .training_session import RunSummary, TrainingSession, Update

log = logging.getLogger(__name__)

FILE_NAME = 'notifications.json'
ATTEMPTS = 5
FIRST_PAUSE = 2.0  # seconds before the second attempt; doubled after each failure
TIMEOUT = 10.0


def check_url(url: str) -> str:
    """`url` stripped, or ValueError saying why it cannot be a webhook."""
    url = (url or '').strip()
    if not url:
        return ''
    parts = urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ValueError('a webhook URL starts with http:// or https:// and names a host')
    return url


def message(summary: RunSummary) -> dict:
    """The JSON body: what ended, how, and where its files are."""
    outcome = summary.outcome.value if summary.outcome else Outcome.FAILED.value
    title = {'finished': 'Training finished', 'stopped': 'Training stopped'}.get(outcome, 'Training failed')
    return {'event': 'run_ended', 'outcome': outcome, 'title': title,
            'text': f'{title}: {summary.model_type} {summary.training_method}'
                    + (f' ({summary.error})' if summary.error else ''),
            'run_id': summary.run_id, 'model_type': summary.model_type,
            'training_method': summary.training_method, 'output': summary.output, 'error': summary.error,
            'started_at': summary.started_at, 'ended_at': summary.ended_at,
            'duration_seconds': round(summary.duration, 1)}


def post_json(url: str, body: dict, *, attempts: int = ATTEMPTS, first_pause: float = FIRST_PAUSE,
              sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST `body` to `url`, retrying failures (network errors, 5xx, 429) with doubling pauses;
    True once delivered."""
    data = json.dumps(body).encode('utf-8')
    pause = first_pause
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method='POST',
                                         headers={'Content-Type': 'application/json', 'User-Agent': 'OT-NiceGUI'})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                log.warning('webhook %s refused the message: HTTP %s', url, exc.code)
                return False  # a client error will not change on retry
            reason = f'HTTP {exc.code}'
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, 'reason', exc))
        if attempt < attempts:
            log.info('webhook %s failed (%s); retrying in %.0f s', url, reason, pause)
            sleep(pause)
            pause *= 2
    log.warning('webhook %s could not be reached after %d attempts', url, attempts)
    return False


class Notifier:
    def __init__(self, data_dir: str | Path, session: TrainingSession):
        from nicegui import Event

        self.path = Path(data_dir) / FILE_NAME
        self.session = session
        self.webhook_url = self._load()
        self.run_ended: Event[dict] = Event()  # pages show a browser notification
        self.sender: Callable[[str, dict], object] = post_json
        self.threads: list[threading.Thread] = []
        session.updated.subscribe(self._on_update, unsubscribe_on_delete=False)

    def _load(self) -> str:
        try:
            return check_url(read_json(self.path).get('webhook_url', ''))
        except (OSError, ValueError, AttributeError):
            return ''

    def set_webhook(self, url: str) -> None:
        self.webhook_url = check_url(url)
        atomic_write_json(self.path, {'webhook_url': self.webhook_url})

    def send(self, body: dict) -> threading.Thread | None:
        """Deliver `body` to the webhook in the background (nothing when no URL is set)."""
        if not self.webhook_url:
            return None
        thread = threading.Thread(target=self.sender, args=(self.webhook_url, body), name='webhook', daemon=True)
        thread.start()
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        return thread

    def _on_update(self, update: Update) -> None:
        if update.ended is None:
            return
        body = message(update.ended)
        self.send(body)
        self.run_ended.emit(body)


_NOTIFIER: Notifier | None = None


def install_notifier(data_dir: str | Path) -> Notifier:
    """The process's notifier (a second setup, as in tests, replaces the first)."""
    from .training_session import get_training_session

    global _NOTIFIER
    if _NOTIFIER is not None:
        _NOTIFIER.session.updated.unsubscribe(_NOTIFIER._on_update)
    _NOTIFIER = Notifier(data_dir, get_training_session())
    return _NOTIFIER


def get_notifier() -> Notifier:
    if _NOTIFIER is None:
        raise RuntimeError('the notifier is installed by the app setup')
    return _NOTIFIER
