"""CPU, RAM and per-GPU readings once a second, shared by every browser.

GPUs are read through NVML (`pynvml`, from nvidia-ml-py). When NVML is unavailable but torch is
already loaded (a run is going), torch.cuda supplies what it can (memory, and utilisation when
its own NVML binding works). Without either there is simply no GPU section. Readings are taken on
a worker thread so that a slow driver call never stalls the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

HISTORY = 300  # seconds kept for the charts
INTERVAL = 1.0


@dataclass
class GpuReading:
    index: int
    name: str
    utilization: float | None = None  # percent
    memory_used: float | None = None  # bytes
    memory_total: float | None = None
    temperature: float | None = None  # °C
    power: float | None = None  # watts
    power_limit: float | None = None

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used is None or not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total


@dataclass
class Reading:
    time: float
    cpu_percent: float
    ram_used: float
    ram_total: float
    gpus: list[GpuReading] = field(default_factory=list)

    @property
    def ram_percent(self) -> float:
        return 100.0 * self.ram_used / self.ram_total if self.ram_total else 0.0


GIB = 1024 ** 3


def format_gib(value: float | None) -> str:
    return '–' if value is None else f'{value / GIB:.1f} GiB'


def _number(value: float | None, unit: str, digits: int = 0) -> str:
    return '–' if value is None else f'{value:.{digits}f} {unit}'


def gpu_lines(gpu: GpuReading) -> list[tuple[str, str]]:
    """(name, text) of what the Performance tab shows of a GPU."""
    memory = f'{format_gib(gpu.memory_used)} / {format_gib(gpu.memory_total)}'
    if gpu.memory_percent is not None:
        memory += f' ({gpu.memory_percent:.0f} %)'
    power = _number(gpu.power, 'W')
    if gpu.power_limit:
        power += f' / {gpu.power_limit:.0f} W'
    return [('Utilisation', _number(gpu.utilization, '%')), ('VRAM', memory),
            ('Temperature', _number(gpu.temperature, '°C')), ('Power', power)]


SYSTEM_SERIES = ('CPU %', 'RAM %')  # the series of the CPU and RAM chart; the rest are the GPUs'


def chart_points(readings: Iterable[Reading]) -> dict[str, tuple[list[float], list[float]]]:
    """The readings as chart series, {name: (times in milliseconds, percents)}: CPU and RAM, and
    each GPU's utilisation and VRAM where the GPU reports them."""
    points: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in SYSTEM_SERIES}
    for reading in readings:
        ms = reading.time * 1000.0  # Plotly date axes take milliseconds
        for name, value in zip(SYSTEM_SERIES, (reading.cpu_percent, reading.ram_percent), strict=True):
            points[name][0].append(ms)
            points[name][1].append(value)
        for gpu in reading.gpus:
            for name, value in ((f'GPU {gpu.index} utilisation %', gpu.utilization),
                                (f'GPU {gpu.index} VRAM %', gpu.memory_percent)):
                if value is not None:
                    xs, ys = points.setdefault(name, ([], []))
                    xs.append(ms)
                    ys.append(value)
    return points


class _Nvml:
    """NVML handles, opened once; `reason` says why there are none."""

    def __init__(self) -> None:
        self.handles: list = []
        self.reason = ''
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self.nvml = pynvml
        except Exception as exc:  # noqa: BLE001 - no driver, no library, no device: all mean "no NVML"
            self.reason = str(exc) or type(exc).__name__

    def read(self) -> list[GpuReading]:
        nvml = self.nvml
        out = []
        for i, handle in enumerate(self.handles):
            gpu = GpuReading(i, _text(_try(nvml.nvmlDeviceGetName, handle)) or f'GPU {i}')
            util = _try(nvml.nvmlDeviceGetUtilizationRates, handle)
            if util is not None:
                gpu.utilization = float(util.gpu)
            mem = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
            if mem is not None:
                gpu.memory_used, gpu.memory_total = float(mem.used), float(mem.total)
            temp = _try(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
            gpu.temperature = None if temp is None else float(temp)
            power = _try(nvml.nvmlDeviceGetPowerUsage, handle)
            gpu.power = None if power is None else power / 1000.0
            limit = _try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            gpu.power_limit = None if limit is None else limit / 1000.0
            out.append(gpu)
        return out


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - a reading a device does not support is left empty
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or '')


def _torch_gpus() -> list[GpuReading]:
    """What torch.cuda knows, only when torch is loaded already (never import it just for this)."""
    torch = sys.modules.get('torch')
    cuda = getattr(torch, 'cuda', None)  # None also while another thread is still importing torch
    if cuda is None or not _try(cuda.is_available):
        return []
    out = []
    for i in range(_try(cuda.device_count) or 0):
        gpu = GpuReading(i, _try(cuda.get_device_name, i) or f'GPU {i}')
        mem = _try(cuda.mem_get_info, i)
        if mem is not None:
            free, total = mem
            gpu.memory_used, gpu.memory_total = float(total - free), float(total)
        util = _try(cuda.utilization, i)
        gpu.utilization = None if util is None else float(util)
        temp = _try(cuda.temperature, i)
        gpu.temperature = None if temp is None else float(temp)
        power = _try(cuda.power_draw, i)
        gpu.power = None if power is None else power / 1000.0
        out.append(gpu)
    return out


START_DELAY = 1.0  # seconds: the first reading waits until the app has served its first pages


class SystemMonitor:
    """Takes a reading every `interval` seconds while started; keeps `HISTORY` of them."""

    def __init__(self, interval: float = INTERVAL, history: int = HISTORY):
        from nicegui import Event

        self.interval = interval
        self.history: deque[Reading] = deque(maxlen=history)
        self.updated: Event[Reading] = Event()
        self._nvml: _Nvml | None = None
        self._task: asyncio.Task | None = None

    @property
    def gpu_source(self) -> str:
        """'nvml', 'torch' or '' (no GPU)."""
        if self._nvml is not None and self._nvml.handles:
            return 'nvml'
        if _torch_gpus():
            return 'torch'
        return ''

    @property
    def no_gpu_reason(self) -> str:
        return self._nvml.reason if self._nvml is not None else ''

    def read(self) -> Reading:
        """One reading now (blocking: call it from a worker thread)."""
        import psutil  # here, off the app's start-up path

        if self._nvml is None:
            self._nvml = _Nvml()
            psutil.cpu_percent(None)  # the first call only sets the baseline
            time.sleep(0.1)
        mem = psutil.virtual_memory()
        gpus = self._nvml.read() if self._nvml.handles else _torch_gpus()
        return Reading(time.time(), psutil.cpu_percent(None), float(mem.total - mem.available), float(mem.total),
                       gpus)

    @property
    def latest(self) -> Reading | None:
        return self.history[-1] if self.history else None

    def start(self) -> None:
        from nicegui import background_tasks

        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._loop(), name='system monitor')

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        from nicegui import run

        await asyncio.sleep(START_DELAY)
        while True:
            started = time.monotonic()
            try:
                reading = await run.io_bound(self.read)
            except Exception:  # noqa: BLE001 - keep monitoring through a transient failure
                log.warning('system reading failed', exc_info=True)
                reading = None
            if reading is not None:
                self.history.append(reading)
                self.updated.emit(reading)
            await asyncio.sleep(max(0.05, self.interval - (time.monotonic() - started)))


_MONITOR: SystemMonitor | None = None


def get_monitor() -> SystemMonitor:
    """The process-wide monitor (created on first use)."""
    global _MONITOR
    if _MONITOR is None:
        _MONITOR = SystemMonitor()
    return _MONITOR
