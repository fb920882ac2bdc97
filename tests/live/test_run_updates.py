"""What a browser is sent while a run goes: charts only while the Run tab is open (and every
point once it opens again), bottom-bar elements only when what they show changes.

The run is played into the session's event queue, as the trainer thread would; the app's own
relay folds it into updates. Messages are read where NiceGUI hands them to the socket."""
from __future__ import annotations

import asyncio
import time

import pytest
from nicegui import ui
from nicegui.testing import User

from live.support import until
from ot_nicegui.state.training_session import Phase, TrainingSession, get_training_session
from ot_nicegui.widgets import training_controls

RUN = 7


def sent_messages(user: User) -> list[tuple[str, dict]]:
    """Every message the user's client sends from now on, as (type, payload)."""
    outbox = user.client.outbox
    original = outbox._emit
    sent: list[tuple[str, dict]] = []

    async def emit(message) -> None:
        sent.append((message[1], message[2]))
        await original(message)

    outbox._emit = emit
    return sent


def element(user: User, marker: str) -> ui.element:
    with user:
        return next(e for e in user.find(marker=marker).elements if not e.is_deleted)


def mentions(messages: list[tuple[str, dict]], item: ui.element) -> list[str]:
    """The types of the messages that update `item` or run one of its methods."""
    found = []
    for kind, payload in messages:
        if kind == 'update' and str(item.id) in {str(key) for key in payload}:
            found.append(kind)
        elif kind == 'run_javascript' and f'runMethod({item.id},' in payload.get('code', ''):
            found.append(kind)
    return found


def running(session: TrainingSession) -> None:
    session.run_id = RUN
    session.phase = Phase.RUNNING


def log_steps(session: TrainingSession, steps: range) -> None:
    for step in steps:
        session._queue.put(('scalar', RUN, 'loss/train_step', step, 1.0 / (step + 1)))


async def steps_until(session: TrainingSession, step: int, predicate, what: str) -> None:
    """Log a step per relay tick (as a run does) until `predicate()` holds."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        log_steps(session, range(step, step + 1))
        step += 1
        await ticks(1)


async def ticks(count: int = 3) -> None:
    """Let the relay run `count` times (and the outbox send what they produced)."""
    await asyncio.sleep(count * 0.1 + 0.05)


async def test_charts_of_a_hidden_run_tab_send_nothing_and_catch_up_when_it_opens(user: User) -> None:
    await user.open('/?tab=run')
    session = get_training_session()
    running(session)
    log_steps(session, range(0, 2))
    await user.should_see(marker='run-chart-loss', retries=50)
    plot = element(user, 'run-chart-loss')
    user.find(marker='run-chart-loss').trigger('plotly_afterplot')  # plotly.js has drawn it
    sent = sent_messages(user)
    await steps_until(session, 2, lambda: 'run_javascript' in mentions(sent, plot), 'new points in the browser')

    user.find(marker='tab-general').click()
    await ticks()
    sent.clear()
    step = len(session.scalars['loss/train_step'][0])
    for _ in range(8):  # longer than the charts' redraw interval
        log_steps(session, range(step, step + 1))
        step += 1
        await ticks(1)
    await until(lambda: len(session.scalars['loss/train_step'][0]) == step, timeout=10, what='the relay')
    await ticks()
    assert mentions(sent, plot) == []
    assert plot.figure['data'][0]['x'] == list(range(step))  # kept on the server meanwhile

    user.find(marker='tab-run').click()
    await until(lambda: 'update' in mentions(sent, plot), timeout=10, what='the catch-up update')
    update = next(data for kind, payload in sent if kind == 'update'
                  for key, data in payload.items() if str(key) == str(plot.id))
    assert update['props']['options']['data'][0]['x'] == list(range(step))
    sent.clear()
    await steps_until(session, step, lambda: 'run_javascript' in mentions(sent, plot), 'points after the catch-up')


async def test_the_bottom_bar_sends_only_what_a_browser_would_see_change(
        user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_controls, 'ESTIMATE_INTERVAL', 3600.0)
    await user.open('/')
    session = get_training_session()
    running(session)
    now = time.monotonic()
    session._queue.put(('progress', RUN, now, (0, 5, 5, 1000, 2)))
    session._queue.put(('status', RUN, 'Training ...'))
    await user.should_see('Step 5 / 1000', retries=50)
    label, bar, rate, status = (element(user, marker) for marker in
                                ('step-label', 'step-progress', 'train-rate', 'train-status'))
    await ticks()
    sent = sent_messages(user)

    session._queue.put(('progress', RUN, now + 1, (0, 5, 5, 1000, 2)))  # nothing a browser shows changes
    session._queue.put(('status', RUN, 'Training ...'))
    await until(lambda: session._queue.empty(), timeout=10, what='the relay')
    await ticks()
    assert [kind for kind, _ in sent if kind == 'update'] == []

    session._queue.put(('progress', RUN, now + 2, (0, 6, 6, 1000, 2)))  # 0.6 % done: the bar stays put
    await user.should_see('Step 6 / 1000', retries=50)
    await ticks()
    assert mentions(sent, label) == ['update']
    assert mentions(sent, bar) == [] and bar.value == training_controls.bar_value(0.005)
    assert mentions(sent, rate) == [] and mentions(sent, status) == []  # the speed waits for its interval

    session._queue.put(('progress', RUN, now + 3, (0, 500, 500, 1000, 2)))
    await user.should_see('Step 500 / 1000', retries=50)
    await ticks()
    assert mentions(sent, bar) == ['update'] and bar.value == 0.5


def test_bar_values_round_down_to_visible_steps() -> None:
    step = 1 / training_controls.BAR_STEPS
    assert training_controls.bar_value(0.0) == 0.0 and training_controls.bar_value(1.0) == 1.0
    assert training_controls.bar_value(step * 0.99) == 0.0
    assert training_controls.bar_value(step * 2.5) == pytest.approx(2 * step)
