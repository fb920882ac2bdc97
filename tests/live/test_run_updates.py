"""What pages are sent while a run goes: one live-feed message per tick for every page that shows
the run (never per page), with progress only when what a page shows changes and chart points in
batches; a page's own messages only for what is new to it (a chart series, a sample).

The run is played into the session's event queue, as the trainer thread would; the app's own
relay folds it into updates. Feed messages are read where they are handed to socket.io, a page's
own messages where NiceGUI's outbox hands them to the socket."""
from __future__ import annotations

import asyncio
import time

import pytest
from nicegui import ui
from nicegui.testing import User

from live.support import mentions, page_messages, until
from modules.train.events import ProgressEvent, ScalarEvent, StatusEvent
from ot_nicegui.state import run_view
from ot_nicegui.state.run_events import RunEvent
from ot_nicegui.state.training_session import Phase, TrainingSession, get_training_session
from ot_nicegui.widgets import live_feed
from ot_nicegui.widgets.live_feed import get_live_feed, run_stream_name

RUN = 7


def element(user: User, marker: str) -> ui.element:
    with user:
        return next(e for e in user.find(marker=marker).elements if not e.is_deleted)


def run_points(message: dict) -> dict:
    """The run's points in a feed message, {tag: [index of the first point, steps, values]}."""
    return message.get('points', {}).get(run_stream_name(RUN), {})


def running(session: TrainingSession) -> None:
    session.run_id = RUN
    session.phase = Phase.RUNNING


def log_steps(session: TrainingSession, steps: range, tag: str = 'loss/train_step') -> None:
    for step in steps:
        session.post(RunEvent(RUN, ScalarEvent(tag, step, 1.0 / (step + 1))))
        session.post(RunEvent(RUN, ProgressEvent(0, step, step, 1000, 2)))


class FeedClock:
    """Stands in for the feed's clock and keeps its last reading: the moment by which the feed
    decided to send the message it sends next. Reads the real clock unless `now` is set."""

    def __init__(self, now: float | None = None):
        self.now = now
        self.last = 0.0

    def monotonic(self) -> float:
        self.last = time.monotonic() if self.now is None else self.now
        return self.last


async def ticks(count: int = 3) -> None:
    """Let the relay run `count` times (and the sockets send what they produced)."""
    await asyncio.sleep(count * 0.1 + 0.05)


async def test_every_page_gets_the_same_single_feed_message(
        create_user, feed_messages, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FeedClock()
    monkeypatch.setattr(live_feed, 'time', clock)
    alice: User = create_user()
    bob: User = create_user()
    await alice.open('/?tab=run')
    await bob.open('/?tab=general')
    session = get_training_session()
    running(session)
    alice_sent, bob_sent = page_messages(alice), page_messages(bob)
    loss = element(alice, 'run-chart-loss')
    log_steps(session, range(0, 3))
    await until(lambda: any('points' in m for m, _ in feed_messages), timeout=10, what='chart points')
    await ticks()
    feed_messages.clear()
    alice_sent.clear()
    bob_sent.clear()
    channel = get_live_feed().channel
    sent_at: list[float] = []  # by the feed's clock
    publish = channel.publish
    monkeypatch.setattr(channel, 'publish', lambda message: (sent_at.append(clock.last), publish(message)))

    for step in range(3, 30):
        log_steps(session, range(step, step + 1))
        await ticks(1)

    def batches() -> list[list]:
        return [run_points(m)['loss/train_step'] for m, _ in feed_messages if 'loss/train_step' in run_points(m)]

    await until(lambda: any(b[1][-1] == 29 for b in batches()), timeout=10, what='the last points')

    assert feed_messages, 'no feed message while the run goes'
    for _, rooms in feed_messages:  # one message for both pages
        assert sorted(rooms) == sorted([alice.client.id, bob.client.id])
    # a step per relay tick, but a message at most every FEED_INTERVAL (by the clock the feed reads)
    assert len(sent_at) >= 2 and get_live_feed().interval() == live_feed.FEED_INTERVAL
    assert min(b - a for a, b in zip(sent_at, sent_at[1:], strict=False)) >= live_feed.FEED_INTERVAL
    # every point exactly once, each batch saying where it starts
    first, xs = batches()[0][0], []
    for start, steps, values in batches():
        assert start == first + len(xs) and len(steps) == len(values)
        xs.extend(steps)
    assert first <= 3 and xs == list(range(first, 30))
    await until(lambda: get_live_feed().progress['step_text'] == 'Step 29 / 1000', timeout=10, what='progress')
    assert [m['progress']['step_text'] for m, _ in feed_messages if 'progress' in m][-1] == 'Step 29 / 1000'
    # pages were sent nothing of their own: the feed carried it all
    assert not mentions(alice_sent, loss)
    assert not mentions(alice_sent, element(alice, 'train-progress'))
    assert not mentions(bob_sent, element(bob, 'train-progress'))
    # and the server side of each page is current, for a full update or a new page
    assert element(bob, 'train-progress').state['step_text'] == 'Step 29 / 1000'
    assert list(loss.figure['data'][0]['x']) == list(range(30))


async def test_a_new_series_goes_to_each_page_once_with_all_its_points(user: User, feed_messages) -> None:
    await user.open('/?tab=run')
    session = get_training_session()
    running(session)
    log_steps(session, range(0, 2))
    await until(lambda: 'loss/train_step' in session.scalars, timeout=10, what='the relay')
    await ticks()
    sent = page_messages(user)
    log_steps(session, range(2, 4), tag='lr/unet')
    await user.should_see(marker='run-chart-lr', retries=50)
    lr = element(user, 'run-chart-lr')
    await until(lambda: mentions(sent, lr), timeout=10, what='the new chart')
    update = next(data for kind, payload in sent if kind == 'update'
                  for key, data in payload.items() if str(key) == str(lr.id))
    trace = update['props']['options']['data'][0]
    assert update['props']['keys'] == ['lr/unet'] and trace['x'] == [2, 3]
    sent.clear()
    log_steps(session, range(4, 12), tag='lr/unet')
    await until(lambda: len(session.scalars['lr/unet'][0]) == 10, timeout=10, what='the relay')
    await ticks(6)
    assert not mentions(sent, lr)  # later points come with the feed
    assert [run_points(m)['lr/unet'][0] for m, _ in feed_messages if 'lr/unet' in run_points(m)][-1] <= 9


async def test_progress_is_sent_only_when_what_a_page_shows_changes(
        user: User, feed_messages, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_feed, 'ESTIMATE_INTERVAL', 3600.0)
    await user.open('/')
    session = get_training_session()
    running(session)
    now = time.monotonic()
    session.post(RunEvent(RUN, ProgressEvent(0, 5, 5, 1000, 2), at=now))
    session.post(RunEvent(RUN, StatusEvent('Training ...')))
    await user.should_see('Step 5 / 1000', retries=50)
    await ticks()
    feed_messages.clear()

    session.post(RunEvent(RUN, ProgressEvent(0, 5, 5, 1000, 2), at=now + 1))  # nothing a page shows changes
    session.post(RunEvent(RUN, StatusEvent('Training ...')))
    await until(lambda: session._queue.empty(), timeout=10, what='the relay')
    await ticks()
    assert feed_messages == []

    session.post(RunEvent(RUN, ProgressEvent(0, 6, 6, 1000, 2), at=now + 2))  # 0.6 % done: the bar stays put
    await user.should_see('Step 6 / 1000', retries=50)
    await ticks()
    progress = feed_messages[-1][0]['progress']
    assert progress['step_text'] == 'Step 6 / 1000' and progress['step_value'] == run_view.bar_value(0.005)

    session.post(RunEvent(RUN, ProgressEvent(0, 500, 500, 1000, 2), at=now + 3))
    await user.should_see('Step 500 / 1000', retries=50)
    await ticks()
    assert feed_messages[-1][0]['progress']['step_value'] == 0.5
    assert element(user, 'train-progress').state['step_value'] == 0.5


async def test_pages_leave_the_feed_when_they_close(user: User, feed_messages) -> None:
    await user.open('/?tab=run')
    channel = get_live_feed().channel
    assert channel.recipients() == [user.client.id]
    user.client.delete()
    assert channel.recipients() == []


def test_bar_values_round_down_to_visible_steps() -> None:
    step = 1 / run_view.BAR_STEPS
    assert run_view.bar_value(0.0) == 0.0 and run_view.bar_value(1.0) == 1.0
    assert run_view.bar_value(step * 0.99) == 0.0
    assert run_view.bar_value(step * 2.5) == pytest.approx(2 * step)


class _Pages:
    """A stand-in channel: `count` pages watch; messages are recorded."""

    def __init__(self, count: int):
        self.count = count
        self.messages: list[dict] = []

    def recipients(self) -> list[str]:
        return [f'page-{i}' for i in range(self.count)]

    def publish(self, message: dict) -> None:
        self.messages.append(message)


@pytest.mark.parametrize('pages, interval', [(1, live_feed.FEED_INTERVAL), (20, 0.5)])
def test_many_pages_get_rarer_messages_so_watching_costs_the_same(
        pages: int, interval: float, monkeypatch: pytest.MonkeyPatch) -> None:
    assert interval == max(live_feed.FEED_INTERVAL, pages / live_feed.FEED_WRITES_PER_SECOND)
    clock = FeedClock(now=1000.0)
    monkeypatch.setattr(live_feed, 'time', clock)
    session = TrainingSession()
    channel = _Pages(pages)
    live_feed.LiveFeed(session, channel)
    running(session)
    sent_at: list[float] = []
    publish = channel.publish
    monkeypatch.setattr(channel, 'publish', lambda message: (sent_at.append(clock.now), publish(message)))
    tick = 1 / 16  # a step per relay tick, four seconds by the feed's clock (binary fractions: exact sums)
    for step in range(64):
        log_steps(session, range(step, step + 1))
        session.drain()
        clock.now += tick
    # the first message goes at once (the run began), then one every interval: never more often,
    # and as soon as the interval has passed (the progress text changed at every step)
    assert sent_at == [1000.0 + i * interval for i in range(int(64 * tick / interval))]
    assert len(channel.messages) * pages <= 64 * tick * live_feed.FEED_WRITES_PER_SECOND + pages
    assert channel.messages[-1]['progress']['step_text'] == f'Step {int(64 - interval / tick)} / 1000'
