"""The Performance tab: CPU, RAM and per-GPU readings once a second, with history charts.

The charts show the live feed's system stream (`LiveFeed.system`, the monitor's last readings):
a page that opens gets the whole window, later readings come with the feed."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.state.system_monitor import (
    SYSTEM_SERIES,
    GpuReading,
    Reading,
    chart_points,
    format_gib,
    gpu_lines,
)
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.live_elements import LivePlot

NO_GPU = 'No NVIDIA GPU found: training runs on the CPU, which is much slower.'


class PerformanceView:
    def __init__(self, ctx: TabContext):
        self.monitor = ctx.monitor
        self.gpu_count = -1
        with ui.column().classes('w-full gap-3').mark('performance-page') as self.page:
            with ui.row().classes('w-full gap-3'):
                with ui.card().classes('min-w-48'):
                    ui.label('CPU').classes('text-subtitle2')
                    self.cpu = ui.label('–').classes('text-h6').mark('perf-cpu')
                with ui.card().classes('min-w-48'):
                    ui.label('RAM').classes('text-subtitle2')
                    self.ram = ui.label('–').classes('text-h6').mark('perf-ram')
            self.gpu_holder = ui.row().classes('w-full gap-3').mark('perf-gpus')
            with ui.element('div').classes('w-full grid gap-2') \
                    .style('grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr))'):
                self.system_chart = self._chart(ctx, 'CPU and RAM').mark('perf-system-chart')
                self.gpu_chart = self._chart(ctx, 'GPU').mark('perf-gpu-chart')
        for name in SYSTEM_SERIES:
            self.system_chart.add_trace(name)
        self.system_chart.update()
        latest = self.monitor.latest
        if latest is not None:
            self.show(latest)
        else:
            self._gpu_cards([])

    @staticmethod
    def _chart(ctx: TabContext, title: str) -> LivePlot:
        chart = LivePlot(ctx.feed.channel, ctx.feed.system, title, x_title='time', y_title='%') \
            .classes('w-full').style('height: 280px')
        chart.figure['layout']['xaxis']['type'] = 'date'
        chart.figure['layout']['yaxis']['range'] = [0, 100]
        return chart

    def _gpu_cards(self, gpus: list[GpuReading]) -> None:
        self.gpu_count = len(gpus)
        self.gpu_holder.clear()
        self.gpu_values: list[dict[str, ui.label]] = []
        with self.gpu_holder:
            if not gpus:
                reason = self.monitor.no_gpu_reason
                label = ui.label(NO_GPU).classes('text-sm opacity-80').mark('perf-no-gpu')
                if reason:  # the driver's own words, for whoever sets the machine up
                    label.tooltip(f'NVIDIA driver library: {reason}')
                self.gpu_chart.set_visibility(False)
                return
            self.gpu_chart.set_visibility(True)
            for gpu in gpus:
                values = {}
                with ui.card().classes('min-w-64').mark('perf-gpu'):
                    ui.label(f'GPU {gpu.index}: {gpu.name}').classes('text-subtitle2')
                    with ui.grid(columns='auto 1fr').classes('gap-x-3 gap-y-0 text-sm'):
                        for name, _ in gpu_lines(gpu):
                            ui.label(name).classes('opacity-70')
                            values[name] = ui.label().mark(f'perf-gpu-{name.lower()}')
                self.gpu_values.append(values)

    def show(self, reading: Reading) -> None:
        """The reading's numbers, and a trace for each GPU series it brings first."""
        self.cpu.set_text(f'{reading.cpu_percent:.0f} %')
        self.ram.set_text(f'{format_gib(reading.ram_used)} / {format_gib(reading.ram_total)} ({reading.ram_percent:.0f} %)')
        if len(reading.gpus) != self.gpu_count:
            self._gpu_cards(reading.gpus)
        for gpu, values in zip(reading.gpus, self.gpu_values, strict=False):
            for name, text in gpu_lines(gpu):
                values[name].set_text(text)
        shown = (*SYSTEM_SERIES, *self.gpu_chart.keys)
        new = [name for name in chart_points([reading]) if name not in shown]
        for name in new:
            self.gpu_chart.add_trace(name)
        if new:
            self.gpu_chart.update()


def render(ctx: TabContext) -> None:
    view = PerformanceView(ctx)
    follow(ctx.monitor.updated, view.page, view.show)
