"""Page elements that the live feed keeps current (see `live_feed`): the run's progress and its
charts. Their server-side state is always current (so a full update, a test or a new page sees
it), but while the run goes they are not sent page by page: every page gets the feed's one
message and its component (`live/*.js`) applies it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nicegui import ui

from ot_nicegui.widgets.live_chart import base_layout
from ot_nicegui.widgets.live_feed import LiveFeed

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


class LivePlot(ui.plotly, component='live/live_plot.js', esm=LIVE_MODULE):
    """A line chart of some of the run's scalars, one trace per tag.

    A trace holds the session's own lists of steps and values (`add_trace`), so the server-side
    figure grows with the run at no cost; the page gets new points from the feed."""

    def __init__(self, feed: LiveFeed, title: str, y_title: str = '', *, log_y: bool = False) -> None:
        super().__init__({'data': [], 'layout': base_layout(title, 'step', y_title, log_y),
                          'config': {'displaylogo': False, 'responsive': True}})
        self._props['run'] = feed.session.run_id
        feed.channel.register(self)

    @property
    def tags(self) -> list[str]:
        return [trace['uid'] for trace in self.figure['data']]

    def add_trace(self, tag: str, steps: list, values: list, style: Mapping | None = None) -> None:
        """Show `tag`: `steps` and `values` are the run's lists, which grow (call `update` after)."""
        trace = {'type': 'scatter', 'mode': 'lines', 'name': tag, 'uid': tag, 'x': steps, 'y': values}
        trace.update(style or {})
        self.figure['data'].append(trace)

    def restart(self, run_id: int) -> None:
        """Empty the chart for a new run."""
        self.figure['data'].clear()
        with self._props.suspend_updates():
            self._props['run'] = run_id
        self.update()
