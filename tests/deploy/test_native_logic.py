"""The desktop window's close guard and run probe, without a display."""
from __future__ import annotations

import sys
import threading
import types

from deploy.harness import free_port
from ot_nicegui import native


class FakeEvent:
    def __init__(self):
        self.handlers = []

    def __iadd__(self, handler):
        self.handlers.append(handler)
        return self


class FakeWindow:
    real_url = 'http://127.0.0.1:1/'

    def __init__(self, answer: bool):
        self.events = types.SimpleNamespace(closing=FakeEvent())
        self.answer = answer
        self.asked = 0
        self.destroyed = threading.Event()

    def create_confirmation_dialog(self, title, message):
        self.asked += 1
        assert 'training' in (title + message).lower()
        return self.answer

    def destroy(self):
        self.destroyed.set()


def _guarded(monkeypatch, answer: bool, active: bool) -> FakeWindow:
    window = FakeWindow(answer)
    monkeypatch.setitem(sys.modules, 'webview', types.SimpleNamespace(windows=[window]))
    monkeypatch.setattr(native, '_ask_server', lambda url: active)
    native.attach_close_guard()
    return window


def _wait_for_dialog_thread():
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.daemon:
            thread.join(5)


def test_close_goes_ahead_without_asking_when_no_run(monkeypatch):
    window = _guarded(monkeypatch, answer=False, active=False)
    (closing,) = window.events.closing.handlers
    assert closing() is None
    _wait_for_dialog_thread()
    assert window.asked == 0


def test_close_is_held_while_a_run_is_active_and_the_user_declines(monkeypatch):
    window = _guarded(monkeypatch, answer=False, active=True)
    (closing,) = window.events.closing.handlers
    assert closing() is False
    _wait_for_dialog_thread()
    assert window.asked == 1 and not window.destroyed.is_set()


def test_confirmed_close_destroys_the_window_and_passes_the_guard(monkeypatch):
    window = _guarded(monkeypatch, answer=True, active=True)
    (closing,) = window.events.closing.handlers
    assert closing() is False  # the close is held while the dialog is open
    assert window.destroyed.wait(5)
    assert closing() is None  # the close that destroy() triggers goes through
    assert window.asked == 1


def test_run_probe_reads_the_training_session(monkeypatch):
    from ot_nicegui.state import training_session

    for busy, expected in ((True, True), (False, False)):
        fake = types.SimpleNamespace(busy=busy)
        monkeypatch.setattr(training_session, 'get_training_session', lambda fake=fake: fake)
        assert native.run_active() is expected

    def broken():
        raise RuntimeError('no session')

    monkeypatch.setattr(training_session, 'get_training_session', broken)
    assert native.run_active() is False


def test_an_unreachable_server_lets_the_window_close():
    assert native._ask_server(f'http://127.0.0.1:{free_port()}/') is False
