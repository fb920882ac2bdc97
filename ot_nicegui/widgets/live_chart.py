"""A Plotly line chart that grows point by point without resending itself.

New points are appended to the server-side figure (so a later full update, or a test, sees them
all) and sent to the browser with one `extendTraces` call per batch. plotly.js loads lazily in the
browser: until the chart reports its first `plotly_afterplot`, nothing is extended; the first
report triggers one full resend that carries every point that arrived in the meantime. The page
reports only that first redraw, not the one after every batch.

(The training run's own charts use the live feed instead: `live_elements.LivePlot`.)
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nicegui import ui

Points = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def first_event_only(key: str) -> str:
    """A JavaScript event handler that sends the first event to the server and drops the rest;
    `key` names it in the page (so that a re-render of the element does not start it afresh)."""
    return (f'() => {{ const sent = (window.otFirstEvents ??= new Set()); '
            f'if (!sent.has({json.dumps(key)})) {{ sent.add({json.dumps(key)}); emit(); }} }}')


def follow(event: Any, owner: ui.element, callback: Callable[..., Any]) -> None:
    """Subscribe `callback` to a process-wide `event` for as long as `owner` and its client live.

    NiceGUI drops a subscription when its client is deleted; this also covers elements deleted
    on their own and clients that vanished without a delete (the subscription then ends itself).
    """
    def handler(*args: Any) -> None:
        try:
            gone = owner.is_deleted or owner.client.id not in owner.client.instances
        except RuntimeError:  # the client object itself is gone
            gone = True
        if gone:
            event.unsubscribe(handler)
            return
        callback(*args)

    event.subscribe(handler, expect_args=True)


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


class LiveChart:
    """One chart, one trace per series name; `extend()` adds points to any series."""

    def __init__(self, title: str, *, x_title: str = 'step', y_title: str = '', log_y: bool = False,
                 max_points: int | None = None, height: str = '280px', gl: bool = False,
                 marker: str | None = None):
        self.max_points = max_points
        self.trace_type = 'scattergl' if gl else 'scatter'
        self.figure: dict = {'data': [], 'layout': base_layout(title, x_title, y_title, log_y),
                             'config': {'displaylogo': False, 'responsive': True}}
        self._index: dict[str, int] = {}
        self._pending: dict[int, tuple[list, list]] = {}  # trace index -> points not yet in the browser
        self._resend = False
        self.ready = False
        self.plot = ui.plotly(self.figure).classes('w-full').style(f'height: {height}')
        if marker:
            self.plot.mark(marker)
        # the server needs only the first redraw (plotly.js has loaded and drawn the chart)
        self.plot.on('plotly_afterplot', self._on_afterplot, [], js_handler=first_event_only(f'{self.plot.id}/afterplot'))

    @property
    def names(self) -> list[str]:
        return list(self._index)

    def series(self, name: str) -> tuple[list, list]:
        trace = self.figure['data'][self._index[name]]
        return trace['x'], trace['y']

    def _on_afterplot(self) -> None:
        if not self.ready:
            self.ready = True
            self._send_all()  # whatever arrived before plotly.js had loaded

    def add_series(self, name: str, style: Mapping | None = None) -> int:
        if name not in self._index:
            trace = {'type': self.trace_type, 'mode': 'lines', 'name': name, 'x': [], 'y': []}
            trace.update(style or {})
            self._index[name] = len(self.figure['data'])
            self.figure['data'].append(trace)
            self._resend = True
        return self._index[name]

    def extend(self, points: Points, styles: Mapping[str, Mapping] | None = None) -> None:
        """Append points: {series name: (xs, ys)}. Unknown names become new traces."""
        for name, (x, y) in points.items():
            if not len(x):
                continue
            index = self.add_series(name, (styles or {}).get(name))
            trace = self.figure['data'][index]
            trace['x'].extend(x)
            trace['y'].extend(y)
            if self.max_points is not None and len(trace['x']) > self.max_points:
                del trace['x'][:-self.max_points]
                del trace['y'][:-self.max_points]
            pending_x, pending_y = self._pending.setdefault(index, ([], []))
            pending_x.extend(x)
            pending_y.extend(y)
        self.flush()

    def flush(self) -> None:
        """Send the points that wait (once plotly.js has drawn the chart)."""
        if not self.ready or not (self._pending or self._resend):
            return
        if self._resend:
            self._send_all()
            return
        indices = list(self._pending)
        args = [{'x': [self._pending[i][0] for i in indices], 'y': [self._pending[i][1] for i in indices]}, indices]
        if self.max_points is not None:
            args.append(self.max_points)
        self._pending.clear()
        self.plot.run_plot_method('extendTraces', *args)

    def _send_all(self) -> None:
        self._pending.clear()
        self._resend = False
        self.plot.update()

    def replace(self, points: Points, styles: Mapping[str, Mapping] | None = None) -> None:
        """Show exactly these series (one full update)."""
        self.figure['data'].clear()
        self._index.clear()
        for name, (x, y) in points.items():
            self.add_series(name, (styles or {}).get(name))
            trace = self.figure['data'][self._index[name]]
            trace['x'] = list(x)
            trace['y'] = list(y)
        self._send_all()

    def clear(self) -> None:
        self.replace({})
