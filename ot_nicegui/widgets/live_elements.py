"""Page elements that the live feed keeps current (see `live_feed`): the run's progress and every
live chart (the run's, the system readings', TensorBoard's). Their server-side state is always
current (so a full update, a test or a new page sees it), but while they change they are not
sent element by element: pages get the feed's messages and the components (`live/*.js`) apply
them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nicegui import ui

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
    no cost. The page is sent the whole figure when the chart is built, when a trace is added
    (call `update` after) and when it (re)connects; new points reach it with the stream's
    messages. Traces are told apart by their series key, which is sent beside the figure
    (`keys`), never as a name in the page: keys are scalar tags, with slashes and all."""

    def __init__(self, channel: LiveChannel, stream: ChartStream, title: str, *, x_title: str = 'step',
                 y_title: str = '', log_y: bool = False, gl: bool = False) -> None:
        self.stream = stream
        self.trace_type = 'scattergl' if gl else 'scatter'
        self._keys: list[str] = []
        super().__init__({'data': [], 'layout': base_layout(title, x_title, y_title, log_y),
                          'config': {'displaylogo': False, 'responsive': True}})
        stream.watch(self)
        channel.register(self)

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

    def _to_dict(self) -> dict[str, Any]:
        # what goes with the figure is computed as it is sent, so that it matches the points
        stream = self.stream
        with self._props.suspend_updates():
            self._props['stream'] = stream.name
            self._props['keys'] = list(self._keys)
            self._props['starts'] = [stream.start(key) for key in self._keys]
            self._props['max_points'] = stream.max_points
            if stream.max_points is not None:  # lists trimmed in place: send a copy of what they hold now
                figure = self.figure
                self._props['options'] = {**figure, 'data': [{**trace, 'x': list(trace['x']), 'y': list(trace['y'])}
                                                              for trace in figure['data']]}
        return super()._to_dict()
