"""Page elements that the live feed keeps current (see `live_feed`): the run's progress, its
duration and every live chart (the run's, the system readings', TensorBoard's). Their server-side state is always
current (so a full update, a test or a new page sees it), but while they change they are not
sent element by element: pages get the feed's messages and the components (`live/*.js`) apply
them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nicegui import ui

from ot_nicegui.state.run_view import format_duration
from ot_nicegui.widgets import series_view
from ot_nicegui.widgets.live_feed import ChartStream, LiveChannel, LiveFeed

LIVE_MODULE = {'ot-live': 'live'}  # the feed's browser side, imported by the components

TEXTS = ('epoch_text', 'step_text', 'status', 'rate', 'eta')


class LiveProgress(ui.element, component='live/live_progress.js', esm=LIVE_MODULE):
    """Epoch and step bars with their texts, the status, speed and time left."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        super().__init__()
        self.update()
        feed.channel.register(self)

    @property
    def state(self) -> Mapping[str, Any]:
        """What the page shows (texts and bar values): the feed's, which every message brings."""
        return self.feed.progress

    def update(self) -> None:
        # the element is sent with the feed's current state (while the run goes, only the feed
        # changes it: the page gets it from there)
        with self._props.suspend_updates():
            self._props['state'] = dict(self.feed.progress)
        super().update()

    def _displayed_contents(self, only_visible: bool = True) -> list[Any]:
        state = self.state
        return [state.get(key) for key in TEXTS]


class LiveClock(ui.element, component='live/live_clock.js'):
    """How long the run has lasted, counting on in the page while it goes (no message needed).

    The element is sent with the seconds so far whenever it is sent whole (built, a phase change,
    a reconnect); the page counts on from there while the run goes."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        super().__init__()
        self.update()
        feed.channel.register(self)

    def _duration(self) -> tuple[float | None, bool]:
        summary = self.feed.session.summary
        if summary is None:
            return None, False
        return summary.duration, summary.ended_at is None

    def update(self) -> None:
        seconds, running = self._duration()
        with self._props.suspend_updates():
            self._props['seconds'] = seconds
            self._props['running'] = running
        super().update()

    def _displayed_contents(self, only_visible: bool = True) -> list[Any]:
        return [format_duration(self._duration()[0])]


def base_layout(title: str, x_title: str, y_title: str, log_y: bool = False) -> dict:
    return {
        'title': {'text': title, 'font': {'size': 14}, 'x': 0.01, 'xanchor': 'left'},
        'margin': {'l': 55, 'r': 15, 't': 35, 'b': 40},
        'xaxis': {'title': {'text': x_title}, **({'tickformat': 'd'} if x_title == 'step' else {})},
        'yaxis': {'title': {'text': y_title}, 'type': 'log' if log_y else 'linear'},
        'legend': {'orientation': 'h', 'x': 1, 'xanchor': 'right', 'y': 1.02, 'yanchor': 'bottom'},
        'showlegend': True,
        'uirevision': 'keep',  # zoom and legend choices survive updates
    }


class LivePlot(ui.plotly, component='live/live_plot.js', esm=LIVE_MODULE):
    """A line chart of some series of a `ChartStream`, one trace per series: the only kind of
    chart in the app that grows.

    A trace holds the stream's own lists (`add_trace`), so the server-side figure is current at
    no cost. The page is sent the figure when the chart is built, when a trace is added (call
    `update` after), when it (re)connects, when it asks (it missed points) and when it zooms; new
    points reach it with the stream's messages. What it is sent of a series longer than
    `POINT_BUDGET` is a min/max-preserving downsample, or at full resolution inside the x-range
    it zoomed to (`series_view`); the points that come later are appended as they are. Traces are
    told apart by their series key, which is sent beside the figure (`keys`), never as a name in
    the page: keys are scalar tags, with slashes and all."""

    POINT_BUDGET = 2000  # points of one series a page is sent at most with the figure

    def __init__(self, channel: LiveChannel, stream: ChartStream, title: str, *, x_title: str = 'step',
                 y_title: str = '', log_y: bool = False, gl: bool = False) -> None:
        self.stream = stream
        self.trace_type = 'scattergl' if gl else 'scatter'
        self._keys: list[str] = []
        self.x_range: tuple[float, float] | None = None  # the x-range this page zoomed to
        super().__init__({'data': [], 'layout': base_layout(title, x_title, y_title, log_y),
                          'config': {'displaylogo': False, 'responsive': True}})
        stream.watch(self)
        channel.register(self)
        self.on('zoom', lambda e: self.zoom(e.args))
        self.on('resend', self.update)

    @property
    def keys(self) -> list[str]:
        """The series keys of the traces, in order."""
        return list(self._keys)

    def add_trace(self, key: str, style: Mapping | None = None) -> None:
        """Show the stream's series `key` (call `update` after)."""
        xs, ys = self.stream.series_of(key)
        trace = {'type': self.trace_type, 'mode': 'lines', 'name': key, 'x': xs, 'y': ys}
        trace.update(style or {})
        self.figure['data'].append(trace)
        self._keys.append(key)

    def show(self, stream: ChartStream) -> None:
        """Empty the chart and follow `stream` instead (a new run, other curves); add its traces
        and `update` after."""
        self.stream.unwatch(self)
        self.stream = stream
        stream.watch(self)
        self.figure['data'].clear()
        self._keys.clear()
        self.x_range = None

    def zoom(self, args: Mapping | None) -> None:
        """The page zoomed to x0..x1 (`args` without them: back to the whole chart). A chart with
        a downsampled series is sent again, at full resolution in that range."""
        try:
            x_range = (float(args['x0']), float(args['x1'])) if args and 'x0' in args else None
        except (TypeError, ValueError):  # an axis of dates or categories: nothing is downsampled there
            x_range = None
        if x_range == self.x_range:
            return
        self.x_range = x_range
        if any(len(trace['x']) > self.POINT_BUDGET for trace in self.figure['data']):
            self.update()

    def sent_figure(self) -> tuple[dict[str, Any], list[int]]:
        """The figure as the page is sent it, and the index of the next point of each trace's
        series (the first one its feed messages add)."""
        stream = self.stream
        figure = self.figure
        data, ends = [], []
        for key, trace in zip(self._keys, figure['data'], strict=True):
            xs, ys = series_view.view(trace['x'], trace['y'], self.POINT_BUDGET, self.x_range)  # copies
            data.append({**trace, 'x': xs, 'y': ys})
            ends.append(stream.start(key) + len(trace['x']))
        return {**figure, 'data': data}, ends

    def update(self) -> None:
        # send the element (its figure is put together as it is sent, in `_to_dict`)
        ui.element.update(self)

    def _to_dict(self) -> dict[str, Any]:
        # what goes with the figure is computed as it is sent, so that it matches the points
        figure, ends = self.sent_figure()
        with self._props.suspend_updates():
            # as it is: an observed copy of every point would cost more than sending them
            dict.__setitem__(self._props, 'options', figure)
            self._props['stream'] = self.stream.name
            self._props['keys'] = list(self._keys)
            self._props['ends'] = ends
            self._props['max_points'] = self.stream.max_points
        return super()._to_dict()
