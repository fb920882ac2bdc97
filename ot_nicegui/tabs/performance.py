"""The Performance tab: CPU, RAM and per-GPU readings once a second, with history charts."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.state.system_monitor import GpuReading, Reading, SystemMonitor, format_gib, gpu_lines
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.live_chart import LiveChart, follow


def _ms(reading: Reading) -> float:
    return reading.time * 1000.0  # Plotly date axes take milliseconds


class PerformanceView:
    def __init__(self, monitor: SystemMonitor):
        self.monitor = monitor
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
                self.system_chart = LiveChart('CPU and RAM', x_title='time', y_title='%',
                                              max_points=monitor.history.maxlen, marker='perf-system-chart')
                self.gpu_chart = LiveChart('GPU', x_title='time', y_title='%',
                                           max_points=monitor.history.maxlen, marker='perf-gpu-chart')
        for chart in (self.system_chart, self.gpu_chart):
            chart.figure['layout']['xaxis']['type'] = 'date'
            chart.figure['layout']['yaxis']['range'] = [0, 100]
        history = list(monitor.history)
        if history:
            self.show(history[-1])
            self.extend(history)
        else:
            self._gpu_cards([])

    def _gpu_cards(self, gpus: list[GpuReading]) -> None:
        self.gpu_count = len(gpus)
        self.gpu_holder.clear()
        self.gpu_values: list[dict[str, ui.label]] = []
        with self.gpu_holder:
            if not gpus:
                reason = self.monitor.no_gpu_reason
                text = 'No GPU found' + (f' ({reason})' if reason else '') + '. Training runs on the CPU.'
                ui.label(text).classes('text-sm opacity-80').mark('perf-no-gpu')
                self.gpu_chart.plot.set_visibility(False)
                return
            self.gpu_chart.plot.set_visibility(True)
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
        self.cpu.set_text(f'{reading.cpu_percent:.0f} %')
        self.ram.set_text(f'{format_gib(reading.ram_used)} / {format_gib(reading.ram_total)} ({reading.ram_percent:.0f} %)')
        if len(reading.gpus) != self.gpu_count:
            self._gpu_cards(reading.gpus)
        for gpu, values in zip(reading.gpus, self.gpu_values, strict=False):
            for name, text in gpu_lines(gpu):
                values[name].set_text(text)

    def extend(self, readings: list[Reading]) -> None:
        times = [_ms(r) for r in readings]
        self.system_chart.extend({'CPU %': (times, [r.cpu_percent for r in readings]),
                                  'RAM %': (times, [r.ram_percent for r in readings])})
        gpu_points: dict[str, tuple[list, list]] = {}
        for r in readings:
            for gpu in r.gpus:
                for label, value in ((f'GPU {gpu.index} utilisation %', gpu.utilization),
                                     (f'GPU {gpu.index} VRAM %', gpu.memory_percent)):
                    if value is not None:
                        xs, ys = gpu_points.setdefault(label, ([], []))
                        xs.append(_ms(r))
                        ys.append(value)
        self.gpu_chart.extend(gpu_points)

    def on_reading(self, reading: Reading) -> None:
        self.show(reading)
        self.extend([reading])


def render(ctx: TabContext) -> None:
    view = PerformanceView(ctx.monitor)
    follow(ctx.monitor.updated, view.page, view.on_reading)
