"""What every browser shows of the run, computed once for the process and sent to every page in
one message.

The training session's relay folds the trainer's events into the session ten times a second. The
feed turns that into what a page shows: the bottom bar's texts and bar positions (`progress`) and
the scalar points that are new since the last message (`points`). When something visible
changed, and at most every `interval()` (phase changes at once), it sends one socket.io message
to the pages that show the run (`LiveChannel`): serialised once, whatever the number of pages;
the page's own components apply it (`live/*.js`).

What a page is sent element by element (its first render, a new chart series, button states)
still goes the usual NiceGUI way. So a page that opens or reconnects gets the whole state, and
the feed only has to carry what is new.
"""
from __future__ import annotations

import asyncio
import math
import time
import weakref
from dataclasses import dataclass
from typing import Any

from nicegui import Client, Event, background_tasks, core, ui

from ot_nicegui.state.run_view import progress_view
from ot_nicegui.state.training_session import Phase, TrainingSession, Update

EVENT = 'ot_live'  # the socket.io event the page components listen to (live/index.js)
FEED_INTERVAL = 0.25  # seconds between two messages at least (a phase change goes at once)
# Each message costs the server one websocket write per page. With many pages the messages get
# rarer, so that watching never costs the trainer more than this many writes a second.
FEED_WRITES_PER_SECOND = 40
CHART_INTERVAL = 0.5  # seconds between two batches of chart points at least (each one redraws every chart)
ESTIMATE_INTERVAL = 1.0  # seconds between refreshes of the speed and time-left texts


class LiveChannel:
    """Sends one message to every page that shows the run, with one serialisation for all.

    A page joins with its first live element (`register`). Feed messages sent while a page was
    not connected are lost to it, so its live elements are sent whole whenever it (re)connects."""

    def __init__(self) -> None:
        self._pages: dict[str, weakref.WeakSet] = {}  # client id -> its live elements

    def register(self, element: ui.element) -> None:
        client = element.client
        elements = self._pages.get(client.id)
        if elements is None:
            elements = self._pages[client.id] = weakref.WeakSet()

            def resend() -> None:
                for live in list(elements):
                    if not live.is_deleted:
                        live.update()

            client.on_connect(resend)
        elements.add(element)

    def recipients(self) -> list[str]:
        for gone in self._pages.keys() - Client.instances.keys():
            del self._pages[gone]
        return sorted(self._pages)

    def publish(self, message: dict[str, Any]) -> None:
        rooms = self.recipients()
        if not rooms or not core.is_loop_running():
            return
        # NiceGUI puts each page's socket in a room named after its client; a list of rooms makes
        # socket.io encode the packet once for all of them
        background_tasks.create(core.sio.emit(EVENT, message, room=rooms), name='live feed')


@dataclass(frozen=True)
class FeedUpdate:
    """What a relay tick changed, for the parts of a page that the feed does not carry."""

    update: Update
    phase_changed: bool  # the run's phase or outcome changed, or a new run began
    new_tags: list[str]  # scalar tags whose first points came in this tick


class LiveFeed:
    """The session's state as pages show it, and the feed messages that keep them current.

    `progress` is always the current bottom-bar content, with `seq`, the number of the message
    that last changed it. `changed` fires after a relay tick that brought pages something the
    feed does not carry (`FeedUpdate`: a phase change, a new series, samples); pages subscribe to
    it, so a tick with only progress and points costs no page any work."""

    def __init__(self, session: TrainingSession, channel: LiveChannel | None = None):
        self.session = session
        self.channel = channel or LiveChannel()
        self.seq = 0
        self.progress: dict[str, Any] = {**progress_view(session), 'seq': 0}
        self.changed: Event[FeedUpdate] = Event()
        self._points: dict[str, list] = {}  # tag -> [index of the first point, xs, ys] not yet sent
        self._sent_at = -math.inf
        self._points_at = -math.inf
        self._estimated_at = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._phase = self._phase_key()
        self.attach()

    def attach(self) -> None:
        """Follow the session's updates (again after something cleared the event's subscribers,
        as NiceGUI's test harness does between tests)."""
        self.session.updated.unsubscribe(self._on_update)
        self.session.updated.subscribe(self._on_update, expect_args=True, unsubscribe_on_delete=False)

    def _phase_key(self) -> tuple:
        session = self.session
        return session.phase, session.last_outcome, session.run_id

    def _collect(self, update: Update) -> list[str]:
        """Keep the new points for the next message; returns the tags that are new."""
        if update.reset:
            self._points.clear()
        new = []
        for tag, (xs, ys) in update.scalars.items():
            pending = self._points.get(tag)
            if pending is None:
                first = len(self.session.scalars[tag][0]) - len(xs)
                self._points[tag] = [first, list(xs), list(ys)]
                if first == 0:
                    new.append(tag)
            else:
                pending[1].extend(xs)
                pending[2].extend(ys)
        return new

    def _on_update(self, update: Update) -> None:
        phase = self._phase_key()
        phase_changed = phase != self._phase or update.reset or update.ended is not None
        self._phase = phase
        new_tags = self._collect(update)
        self._send(phase_changed)
        if phase_changed or new_tags or update.samples:
            self.changed.emit(FeedUpdate(update, phase_changed, new_tags))

    def _send(self, phase_changed: bool = False) -> None:
        """Send what is due. What the intervals hold back goes out with a later tick, or by a
        timer when the run logs nothing meanwhile."""
        session = self.session
        now = time.monotonic()
        running = session.phase in (Phase.RUNNING, Phase.STOPPING)
        estimates = not running or now - self._estimated_at >= ESTIMATE_INTERVAL
        view = progress_view(session, estimates)
        progress_waits = any(self.progress.get(key) != value for key, value in view.items())
        points_wait = bool(self._points)
        interval = self.interval()
        chart_interval = max(CHART_INTERVAL, interval)
        may_send = phase_changed or now - self._sent_at >= interval  # one message per interval at most
        progress_due = progress_waits and may_send or phase_changed
        points_due = points_wait and (phase_changed or may_send and now - self._points_at >= chart_interval)
        if progress_due or points_due:
            self.seq += 1
            message: dict[str, Any] = {'seq': self.seq, 'run': session.run_id}
            if progress_due:
                if estimates:
                    self._estimated_at = now if running else -math.inf
                self.progress.update(view, seq=self.seq)
                message['progress'] = dict(self.progress)
            if points_due:
                message['points'] = self._points
                self._points = {}
                self._points_at = now
            self._sent_at = now
            self.channel.publish(message)
        waits = [self._sent_at + interval - now] if progress_waits and not progress_due else []
        if self._points:
            waits.append(max(self._points_at + chart_interval, self._sent_at + interval) - now)
        if waits:
            self._flush_later(max(0.0, min(waits)))

    def interval(self) -> float:
        """Seconds between two messages: `FEED_INTERVAL`, longer when many pages watch."""
        return max(FEED_INTERVAL, len(self.channel.recipients()) / FEED_WRITES_PER_SECOND)

    def _flush_later(self, delay: float) -> None:
        if self._timer is not None or not core.is_loop_running():
            return

        def flush() -> None:
            self._timer = None
            self._send()

        self._timer = core.loop.call_later(delay, flush)


_FEED: LiveFeed | None = None


def get_live_feed() -> LiveFeed:
    """The process-wide feed of the training session."""
    global _FEED
    if _FEED is None:
        from ot_nicegui.state.training_session import get_training_session

        _FEED = LiveFeed(get_training_session())
    return _FEED
