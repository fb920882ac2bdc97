"""What browsers show live, computed once for the process and sent to every page that shows it in
one message: the run's progress and every live chart's new points.

Chart points travel in named streams (`ChartStream`): the run's scalars, the system readings, a
TensorBoard chart's curves. A stream holds its series (key -> xs, ys) and the points that no
page has been sent yet; a message carries them as `points: {stream: {key: [index of the first
point, xs, ys]}}`, and the page's charts (`live_elements.LivePlot`, `live/live_plot.js`) take
what they lack. That is the one way a chart in this app grows.

The training session's relay folds the trainer's events into the session ten times a second. The
feed turns that into what a page shows: the bottom bar's texts and bar positions (`progress`) and
the run stream's new points. When something visible changed, and at most every `interval()`
(phase changes at once), it sends one socket.io message to every page (`LiveChannel`):
serialised once, whatever the number of pages. Other streams send their points to the pages that
show them as they arrive (the system readings once a second, to the pages with the Performance
tab open).

What a page is sent element by element (its first render, a new chart series, button states)
still goes the usual NiceGUI way. So a page that opens or reconnects gets the whole state, and
the feed only has to carry what is new.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import Client, Event, background_tasks, core, ui

from ot_nicegui.state.run_view import progress_view
from ot_nicegui.state.system_monitor import Reading, SystemMonitor, chart_points
from ot_nicegui.state.training_session import Phase, TrainingSession, Update

EVENT = 'ot_live'  # the socket.io event the page components listen to (live/index.js)
FEED_INTERVAL = 0.25  # seconds between two messages at least (a phase change goes at once)
# Each message costs the server one websocket write per page. With many pages the messages get
# rarer, so that watching never costs the trainer more than this many writes a second.
FEED_WRITES_PER_SECOND = 40
CHART_INTERVAL = 0.5  # seconds between two batches of chart points at least (each one redraws every chart)
ESTIMATE_INTERVAL = 1.0  # seconds between refreshes of the speed and time-left texts


SYSTEM_STREAM = 'system'
_numbers = itertools.count(1)


def run_stream_name(run_id: int) -> str:
    return f'run:{run_id}'


class ChartStream:
    """Named series of chart points that charts on any number of pages show.

    `series` maps a key (a scalar tag, a reading's name, a curve's name) to its lists of x and y;
    the charts' traces are these very lists, so a chart's server-side figure is always current.
    Points come in two ways: `append` adds them to the lists, `noted` records points the lists'
    owner has appended itself (the run's scalars, which the training session keeps). Either way
    they wait in `pending` until a message takes them (`take`).

    With `max_points`, each series keeps only its latest points (the system readings' window);
    `start(key)` is the index, counted from the stream's first point of that series, of the first
    one it still holds. A message names every batch by that count, so a page can tell what it
    lacks, whatever it trimmed.

    A stream with a `channel` sends its points itself, to the pages that show it, right after they
    arrive; the run stream has none: the live feed sends its points with the run's progress.
    """

    def __init__(self, name: str, series: dict[str, tuple[list, list]] | None = None, *,
                 max_points: int | None = None, channel: LiveChannel | None = None) -> None:
        self.name = name
        self.series: dict[str, tuple[list, list]] = {} if series is None else series
        self.max_points = max_points
        self.channel = channel
        self.pending: dict[str, list] = {}  # key -> [index of the first point, xs, ys] not sent yet
        self._dropped: dict[str, int] = {}  # key -> points trimmed from the front so far
        self._plots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # chart -> its page (client id)
        self._send_scheduled = False

    @classmethod
    def unique(cls, prefix: str, series: dict[str, tuple[list, list]] | None = None, *,
               max_points: int | None = None, channel: LiveChannel | None = None) -> ChartStream:
        """A stream with a name no other stream of the process has."""
        return cls(f'{prefix}:{next(_numbers)}', series, max_points=max_points, channel=channel)

    def start(self, key: str) -> int:
        return self._dropped.get(key, 0)

    def series_of(self, key: str) -> tuple[list, list]:
        """The lists of `key` (empty ones for a key that has no point yet)."""
        return self.series.setdefault(key, ([], []))

    def noted(self, key: str, xs: Sequence, ys: Sequence) -> bool:
        """Record points that were just appended to `series[key]`; True when they are its first."""
        steps = self.series[key][0]
        first = self.start(key) + len(steps) - len(xs)
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = [first, list(xs), list(ys)]
        else:
            pending[1].extend(xs)
            pending[2].extend(ys)
        if self.max_points is not None and len(pending[1]) > self.max_points:
            drop = len(pending[1]) - self.max_points  # no page would keep them
            pending[0] += drop
            del pending[1][:drop], pending[2][:drop]
        return first == 0

    def append(self, points: Mapping[str, tuple[Sequence, Sequence]]) -> list[str]:
        """Add points, {key: (xs, ys)}; returns the keys that had none before. Sends them soon."""
        new = []
        for key, (xs, ys) in points.items():
            if not len(xs):
                continue
            steps, values = self.series_of(key)
            steps.extend(xs)
            values.extend(ys)
            if self.noted(key, xs, ys):
                new.append(key)
            if self.max_points is not None and len(steps) > self.max_points:
                drop = len(steps) - self.max_points
                del steps[:drop], values[:drop]
                self._dropped[key] = self.start(key) + drop
        if self.pending and self.channel is not None:
            self._send_soon()
        return new

    def take(self) -> dict[str, list]:
        """The points that wait, as a message carries them; they wait no more."""
        pending, self.pending = self.pending, {}
        return pending

    def watch(self, plot: ui.element) -> None:
        self._plots[plot] = plot.client.id

    def unwatch(self, plot: ui.element) -> None:
        self._plots.pop(plot, None)

    def rooms(self) -> list[str]:
        """The pages that show this stream."""
        return sorted({page for plot, page in list(self._plots.items())
                       if not plot.is_deleted and page in Client.instances})

    def _send_soon(self) -> None:
        # on the next turn of the loop: what arrives at one moment goes in one message
        if self._send_scheduled or not core.is_loop_running():
            return
        self._send_scheduled = True

        def send() -> None:
            self._send_scheduled = False
            if self.channel is not None:
                self.channel.send(self)

        core.loop.call_soon(send)


class LiveChannel:
    """Sends a message to the pages that show something live, with one serialisation for all.

    A page joins with its first live element (`register`). Messages sent while a page was not
    connected are lost to it, so its live elements are sent whole whenever it (re)connects."""

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

    def publish(self, message: dict[str, Any], rooms: list[str] | None = None) -> None:
        """Send `message` to `rooms` (page clients), by default to every page that joined."""
        if rooms is None:
            rooms = self.recipients()
        if not rooms or not core.is_loop_running():
            return
        # NiceGUI puts each page's socket in a room named after its client; a list of rooms makes
        # socket.io encode the packet once for all of them
        background_tasks.create(core.sio.emit(EVENT, message, room=rooms), name='live feed')

    def send(self, stream: ChartStream) -> None:
        """Send a stream's waiting points to the pages that show it (to none if none does)."""
        points = stream.take()
        rooms = stream.rooms()
        if points and rooms:
            self.publish({'points': {stream.name: points}}, rooms)


@dataclass(frozen=True)
class FeedUpdate:
    """What a relay tick changed, for the parts of a page that the feed does not carry."""

    update: Update
    phase_changed: bool  # the run's phase or outcome changed, or a new run began
    new_tags: list[str]  # scalar tags whose first points came in this tick


class LiveFeed:
    """The session's state as pages show it, and the feed messages that keep them current.

    `progress` is always the current bottom-bar content, with `seq`, the number of the message
    that last changed it. `run_stream` holds the run's scalars (the session's own lists), which
    the feed's messages carry; `system` the system monitor's readings (its history's window),
    sent to the pages with a chart of them as each reading comes. `changed` fires after a relay
    tick that brought pages something the feed does not carry (`FeedUpdate`: a phase change, a
    new series, samples); pages subscribe to it, so a tick with only progress and points costs no
    page any work."""

    def __init__(self, session: TrainingSession, channel: LiveChannel | None = None,
                 monitor: SystemMonitor | None = None):
        self.session = session
        self.channel = channel or LiveChannel()
        self.monitor = monitor
        self.seq = 0
        self.progress: dict[str, Any] = {**progress_view(session), 'seq': 0}
        self.changed: Event[FeedUpdate] = Event()
        self._run_stream = ChartStream(run_stream_name(session.run_id), session.scalars)
        history = monitor.history if monitor is not None else ()
        self.system = ChartStream(SYSTEM_STREAM, max_points=getattr(history, 'maxlen', None), channel=self.channel)
        self.system.append(chart_points(history))
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
        if self.monitor is not None:
            self.monitor.updated.unsubscribe(self._on_reading)
            self.monitor.updated.subscribe(self._on_reading, expect_args=True, unsubscribe_on_delete=False)

    @property
    def run_stream(self) -> ChartStream:
        """The stream of the session's current run (a new run, or a reset session, gets a new one)."""
        session = self.session
        stream = self._run_stream
        if stream.series is not session.scalars or stream.name != run_stream_name(session.run_id):
            stream = self._run_stream = ChartStream(run_stream_name(session.run_id), session.scalars)
        return stream

    def _on_reading(self, reading: Reading) -> None:
        self.system.append(chart_points([reading]))

    def _phase_key(self) -> tuple:
        session = self.session
        return session.phase, session.last_outcome, session.run_id

    def _collect(self, update: Update) -> list[str]:
        """Keep the new points for the next message; returns the tags that are new."""
        stream = self.run_stream
        return [tag for tag, (xs, ys) in update.scalars.items() if stream.noted(tag, xs, ys)]

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
        stream = self.run_stream
        points_wait = bool(stream.pending)
        interval = self.interval()
        chart_interval = max(CHART_INTERVAL, interval)
        may_send = phase_changed or now - self._sent_at >= interval  # one message per interval at most
        progress_due = progress_waits and may_send or phase_changed
        points_due = points_wait and (phase_changed or may_send and now - self._points_at >= chart_interval)
        if progress_due or points_due:
            self.seq += 1
            message: dict[str, Any] = {'seq': self.seq}
            if progress_due:
                if estimates:
                    self._estimated_at = now if running else -math.inf
                self.progress.update(view, seq=self.seq)
                message['progress'] = dict(self.progress)
            if points_due:
                message['points'] = {stream.name: stream.take()}
                self._points_at = now
            self._sent_at = now
            self.channel.publish(message)
        waits = [self._sent_at + interval - now] if progress_waits and not progress_due else []
        if stream.pending:
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
        from ot_nicegui.state.system_monitor import get_monitor
        from ot_nicegui.state.training_session import get_training_session

        _FEED = LiveFeed(get_training_session(), monitor=get_monitor())
    return _FEED
