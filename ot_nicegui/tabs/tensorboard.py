"""The TensorBoard tab: scalar charts read straight from the workspace's event files.

Pick a run and the tags to show, smooth the curves as TensorBoard does, and compare with a
second run. The real TensorBoard can be started for the same folder (on this machine's loopback).

Each chart shows a chart stream of its own (`live_feed.ChartStream`): with "follow" on, the
points that are new in the files are read (only the bytes the files gained, `tb_reader`),
appended to it, smoothed on from where the curve was, and reach the page as the run's do; a
different choice (runs, tags, smoothing) gives the chart a new stream with the whole curves.
"""
from __future__ import annotations

import sys
from pathlib import Path

from nicegui import run, ui

from ot_nicegui.messages import plain_error
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.tb_reader import (
    Known,
    Points,
    Smoother,
    list_runs,
    run_traces,
    scalar_cache,
    tensorboard_server,
    workspace_logdir,
)
from ot_nicegui.widgets.live_elements import LivePlot
from ot_nicegui.widgets.live_feed import ChartStream

LIVE_INTERVAL = 5.0  # seconds between re-reads while "follow" is on
RUN_COLORS = ('#1f77b4', '#ff7f0e')


Traces = dict[str, tuple[dict, tuple[list, list]]]  # curve name -> (style, (steps, values))


class TensorBoardView:
    def __init__(self, ctx: TabContext):
        config_session = self.config_session = ctx.session
        self.channel = ctx.feed.channel
        self.data: dict[str, Points] = {}  # run -> tag -> points
        self.known: dict[str, Known] = {}  # run -> what of it `data` holds
        self.smoothers: dict[tuple[str, str], Smoother] = {}  # (tag, run) -> where its smoothed curve is
        self.charts: dict[str, LivePlot] = {}
        with ui.column().classes('w-full gap-2').mark('tensorboard-page'):
            with ui.row().classes('w-full items-end gap-2'):
                self.logdir = ui.input('Log folder', value=str(workspace_logdir(config_session.data_dir, config_session.config.workspace_dir))) \
                    .classes('grow').mark('tb-logdir')
                ui.button('Reload', icon='refresh', on_click=self.reload).mark('tb-refresh')
                self.follow = ui.switch('Follow', value=False,
                                        on_change=lambda e: setattr(self.timer, 'active', bool(e.value))) \
                    .mark('tb-follow').tooltip(f'Re-read the files every {LIVE_INTERVAL:.0f} s')
            with ui.row().classes('w-full items-end gap-2'):
                self.run = ui.select([], label='Run', on_change=self.load).classes('w-64').mark('tb-run')
                self.compare = ui.select([], label='Compare with', clearable=True, on_change=self.load) \
                    .classes('w-64').mark('tb-compare')
                self.tags = ui.select([], label='Tags', multiple=True, on_change=self.draw) \
                    .props('use-chips').classes('grow').mark('tb-tags')
                with ui.column().classes('gap-0 w-48'):
                    self.smoothing_label = ui.label().classes('text-xs')
                    self.smoothing = ui.slider(min=0, max=0.99, step=0.01, value=0.6, on_change=self.draw) \
                        .props('aria-label="Smoothing"').mark('tb-smoothing')
            self.message = ui.label().classes('text-sm opacity-70').mark('tb-message')
            with ui.element('div').classes('w-full grid gap-2') \
                    .style('grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr))') as self.holder:
                pass
            self._launcher()
        self.timer = ui.timer(LIVE_INTERVAL, self.load, active=False)

    # ---- the real TensorBoard ----------------------------------------------------------------------
    def _launcher(self) -> None:
        server = tensorboard_server()
        with ui.row().classes('items-center gap-2').mark('tb-launcher'):
            ui.button('Launch TensorBoard', icon='open_in_new', on_click=self.launch).mark('tb-launch')
            self.stop_button = ui.button('Stop TensorBoard', on_click=self.stop_server).props('flat') \
                .mark('tb-stop')
            self.link = ui.link('', '', new_tab=True).mark('tb-link')
            self.remote_link = ui.link('', '', new_tab=True).mark('tb-remote-link')
        self._show_server(server)
        self._show_remote()
        ui.timer(1.0, self._show_remote)  # a cloud run's TensorBoard comes and goes with the run

    def _show_remote(self) -> None:
        """The forwarded TensorBoard of a cloud run (`cloud.tensorboard_tunnel`) while the run goes."""
        tunnel = sys.modules.get('modules.cloud.tunnel')  # never imported: no cloud run has forwarded one
        url = tunnel.newest_url() if tunnel is not None else None
        if url == getattr(self, '_remote_url', ''):
            return
        self._remote_url = url
        self.remote_link.set_text(f'TensorBoard of the remote run at {url}' if url else '')
        self.remote_link.props(f'href={url}' if url else 'href=""')
        self.remote_link.set_visibility(bool(url))

    def _show_server(self, server) -> None:
        url = server.url
        self.link.set_text(f'TensorBoard at {url}' if url else '')
        self.link.props(f'href={url}' if url else 'href=""')
        self.link.set_visibility(bool(url))
        self.stop_button.set_visibility(bool(url))

    def launch(self) -> None:
        server = tensorboard_server()
        port = int(self.config_session.config.tensorboard_port or 6006)
        try:
            server.start(self.logdir.value, port)
        except OSError as exc:
            ui.notify(f'TensorBoard could not start: {plain_error(exc)}', type='negative')
            return
        self._show_server(server)
        ui.notify(f'TensorBoard starting at {server.url}', type='info')

    def stop_server(self) -> None:
        tensorboard_server().stop()
        self._show_server(tensorboard_server())

    # ---- reading ------------------------------------------------------------------------------------------
    async def reload(self) -> None:
        """Re-list the runs (keeping the choice when it still exists), then read."""
        runs = await run.io_bound(list_runs, self.logdir.value)
        self.run.set_options(runs, value=self.run.value if self.run.value in runs else (runs[0] if runs else None))
        self.compare.set_options(runs, value=self.compare.value if self.compare.value in runs else None)
        if not runs:
            self.message.set_text('No event files in this folder yet.')
        await self.load()

    async def load(self) -> None:
        """Read what the chosen runs' files gained; append it to the charts, or draw them anew
        when a run's series changed otherwise (or another run was chosen)."""
        root = Path(self.logdir.value)
        chosen = list(dict.fromkeys(r for r in (self.run.value, self.compare.value) if r))
        new: dict[str, Points] = {}
        whole = set(chosen) != set(self.data)
        for name in chosen:
            points, known, everything = await run.io_bound(scalar_cache().since, root / name, self.known.get(name))
            self.known[name] = known
            if everything or name not in self.data:
                self.data[name] = points
                whole = True
            else:
                for tag, (xs, ys) in points.items():
                    steps, values = self.data[name].setdefault(tag, ([], []))
                    steps.extend(xs)
                    values.extend(ys)
                new[name] = points
        for name in set(self.data) - set(chosen):
            del self.data[name]
            self.known.pop(name, None)
        tags = sorted({tag for series in self.data.values() for tag in series})
        if tags != list(self.tags.options):
            keep = [t for t in (self.tags.value or []) if t in tags]
            self.tags.set_options(tags, value=keep or tags)  # draws (on_change)
            whole = True
        if chosen:
            count = sum(len(p[0]) for series in self.data.values() for p in series.values())
            self.message.set_text(f'{count} points in {len(tags)} tags')
        if whole or not self._append(new):
            self.draw()

    def draw(self) -> None:
        weight = float(self.smoothing.value or 0)
        self.smoothing_label.set_text(f'Smoothing {weight:.2f}')
        wanted = list(self.tags.value or [])
        for tag in list(self.charts):
            if tag not in wanted:
                self.charts.pop(tag).delete()
        runs = self._runs()
        self.smoothers.clear()
        for tag in wanted:
            traces: Traces = {}
            for i, name in enumerate(runs):
                if tag in self.data[name]:
                    smoother = self.smoothers[(tag, name)] = Smoother(weight)
                    traces.update(run_traces(name, self.data[name][tag], weight, RUN_COLORS[i], smoother))
            chart = self.charts.get(tag)
            if chart is None:
                with self.holder:
                    chart = self.charts[tag] = LivePlot(self.channel, self._stream(traces), tag, gl=True,
                                                        log_y=tag.startswith('lr/')) \
                        .classes('w-full').style('height: 280px').mark(f'tb-chart-{tag}')
                self._show(tag, chart, traces, new_stream=False)
            else:
                self._show(tag, chart, traces)

    def _runs(self) -> list[str]:
        return [r for r in dict.fromkeys((self.run.value, self.compare.value)) if r and r in self.data]

    def _stream(self, traces: Traces) -> ChartStream:
        return ChartStream.unique('tensorboard', {name: (list(xs), list(ys)) for name, (_, (xs, ys)) in traces.items()},
                                  channel=self.channel)

    def _show(self, tag: str, chart: LivePlot, traces: Traces, new_stream: bool = True) -> None:
        """Show exactly these curves (one full update)."""
        if new_stream:
            chart.show(self._stream(traces))
        for name, (style, _) in traces.items():
            chart.add_trace(name, style)
        chart.update()

    def _append(self, new: dict[str, Points]) -> bool:
        """Append the runs' new points to the charts that show their curves (the smoothed ones
        go on from where they were); False when a chart lacks a curve for them (draw anew)."""
        appends: dict[str, dict[str, tuple[list, list]]] = {}
        for tag, chart in self.charts.items():
            for i, name in enumerate(self._runs()):
                points = new.get(name, {}).get(tag)
                if points is None:
                    continue
                smoother = self.smoothers.get((tag, name))
                if smoother is None:
                    return False  # the run's first points of this tag: a new curve
                curves = run_traces(name, points, smoother.weight, RUN_COLORS[i], smoother)
                if any(curve not in chart.keys for curve in curves):
                    return False
                appends.setdefault(tag, {}).update({curve: xy for curve, (_, xy) in curves.items()})
        for tag, points in appends.items():
            self.charts[tag].stream.append(points)
        return True


def render(ctx: TabContext) -> None:
    view = TensorBoardView(ctx)
    ui.timer(0.01, view.reload, once=True)
