"""Scalars straight from TensorBoard event files, read with tensorboard's own record loader.

A run is a folder holding `events.out.tfevents.*` files (the trainer writes one folder per run
under `<workspace>/tensorboard/`). `RunReader` keeps one loader per file, so calling `read()`
again returns only what was appended since; that makes tailing a live run cheap. No TensorBoard
server is needed. tensorboard itself is imported lazily: the UI starts without it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EVENT_FILE_MARK = 'tfevents'


@dataclass
class Series:
    """One tag's points in file order (steps may repeat after a resume)."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)

    def extend(self, other: Series) -> None:
        self.steps.extend(other.steps)
        self.values.extend(other.values)
        self.wall_times.extend(other.wall_times)

    def __len__(self) -> int:
        return len(self.steps)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.steps, dtype=np.int64), np.asarray(self.values, dtype=np.float64)


def is_event_file(path: Path) -> bool:
    return path.is_file() and EVENT_FILE_MARK in path.name


def list_runs(logdir: str | os.PathLike) -> list[str]:
    """Folders under `logdir` (itself included, as '.') that hold event files, as relative
    POSIX paths, newest first by the modification time of their newest event file."""
    root = Path(logdir)
    if not root.is_dir():
        return []
    found: dict[str, float] = {}
    for dirpath, _dirs, files in os.walk(root):
        times = [os.path.getmtime(os.path.join(dirpath, f)) for f in files if EVENT_FILE_MARK in f]
        if times:
            rel = Path(dirpath).relative_to(root).as_posix()
            found[rel] = max(times)
    return sorted(found, key=lambda run: (-found[run], run))


def _scalar_of(value) -> float | None:
    """The number in one summary value: the legacy `simple_value`, or a scalar tensor."""
    kind = value.WhichOneof('value')
    if kind == 'simple_value':
        return float(value.simple_value)
    if kind == 'tensor':
        from tensorboard.util import tensor_util

        array = tensor_util.make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in 'fiub':
            return float(array.reshape(()))
    return None


class RunReader:
    """Incremental scalar reader for one run folder."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._loaders: dict[Path, object] = {}

    def _files(self) -> list[Path]:
        if not self.run_dir.is_dir():
            return []
        return sorted(p for p in self.run_dir.iterdir() if is_event_file(p))

    def read(self, tags: Iterable[str] | None = None) -> dict[str, Series]:
        """New scalar points per tag since the last call (all of them on the first call)."""
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto.event_pb2 import Event

        wanted = None if tags is None else set(tags)
        out: dict[str, Series] = {}
        for path in self._files():
            loader = self._loaders.get(path)
            if loader is None:
                loader = self._loaders[path] = RawEventFileLoader(str(path))
            for record in loader.Load():
                event = Event.FromString(record)
                if not event.HasField('summary'):
                    continue
                for value in event.summary.value:
                    if wanted is not None and value.tag not in wanted:
                        continue
                    number = _scalar_of(value)
                    if number is None:
                        continue
                    series = out.get(value.tag)
                    if series is None:
                        series = out[value.tag] = Series()
                    series.steps.append(int(event.step))
                    series.values.append(number)
                    series.wall_times.append(float(event.wall_time))
        return out


class ScalarStore:
    """Every scalar of a run, kept up to date with `refresh()`."""

    def __init__(self, run_dir: str | os.PathLike):
        self.reader = RunReader(run_dir)
        self.series: dict[str, Series] = {}

    def refresh(self) -> dict[str, Series]:
        """Read what is new; returns only the new points per tag."""
        new = self.reader.read()
        for tag, series in new.items():
            self.series.setdefault(tag, Series()).extend(series)
        return new

    @property
    def tags(self) -> list[str]:
        return sorted(self.series)


class StoreCache:
    """One ScalarStore per run folder for the whole process; reads may come from any thread."""

    def __init__(self) -> None:
        import threading

        self._stores: dict[Path, ScalarStore] = {}
        self._lock = threading.Lock()

    def read(self, run_dir: str | os.PathLike) -> dict[str, tuple[list[int], list[float]]]:
        """Every point of the run so far (new points read incrementally), as copies."""
        key = Path(run_dir).resolve()
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = ScalarStore(key)
            store.refresh()
            return {tag: (list(s.steps), list(s.values)) for tag, s in store.series.items()}


def read_scalars(run_dir: str | os.PathLike, tags: Iterable[str] | None = None) -> dict[str, Series]:
    """All scalar points of one run folder."""
    return RunReader(run_dir).read(tags)


def smooth(values: Iterable[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with the start-up bias removed.

    weight 0 returns the values unchanged; non-finite values are passed through and skipped.
    """
    weight = min(max(float(weight), 0.0), 0.999)
    out: list[float] = []
    last = 0.0
    count = 0
    for value in values:
        if not np.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        debias = 1.0 - weight ** count if weight > 0 else 1.0
        out.append(last / debias)
    return out


def run_traces(run: str, points: tuple[list, list], weight: float,
               color: str) -> dict[str, tuple[dict, tuple]]:
    """A run's chart traces, {trace name: (style, (xs, ys))}: the smoothed curve over a faint raw
    one (raw alone at 0)."""
    steps, values = points
    if weight <= 0:
        return {run: ({'line': {'color': color, 'width': 1.5}}, (steps, values))}
    return {
        f'{run} (raw)': ({'line': {'color': color, 'width': 1}, 'opacity': 0.3, 'showlegend': False},
                         (steps, values)),
        run: ({'line': {'color': color, 'width': 2}}, (steps, smooth(values, weight))),
    }


def workspace_logdir(data_dir: str | os.PathLike, workspace_dir: str) -> Path:
    """The event files of a workspace (a relative workspace is below the data folder)."""
    return (Path(data_dir) / workspace_dir / 'tensorboard').resolve()


class TensorBoardServer:
    """The real TensorBoard, started on demand as a child process on this machine's loopback."""

    def __init__(self) -> None:
        self.process = None
        self.logdir: str | None = None
        self.port: int | None = None
        self.host = '127.0.0.1'

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def url(self) -> str | None:
        return f'http://{self.host}:{self.port}/' if self.running else None

    def start(self, logdir: str | os.PathLike, port: int = 6006) -> str:
        """Start (or restart for another folder) and return its address."""
        import subprocess
        import sys

        logdir = str(Path(logdir).resolve())
        if self.running and self.logdir == logdir:
            return self.url
        self.stop()
        Path(logdir).mkdir(parents=True, exist_ok=True)
        port = port if port and _port_free(self.host, port) else _free_port(self.host)
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'tensorboard.main', '--logdir', logdir, '--port', str(port), '--host', self.host,
             '--samples_per_plugin=images=100,scalars=10000'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.logdir, self.port = logdir, port
        return self.url

    def stop(self) -> None:
        import subprocess

        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_SERVER: TensorBoardServer | None = None


def tensorboard_server() -> TensorBoardServer:
    """The process-wide TensorBoard child (one for all browsers)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = TensorBoardServer()
    return _SERVER


_CACHE: StoreCache | None = None


def scalar_cache() -> StoreCache:
    global _CACHE
    if _CACHE is None:
        _CACHE = StoreCache()
    return _CACHE


def stop_server() -> None:
    """Stop the TensorBoard child if one was started (on app shutdown)."""
    if _SERVER is not None:
        _SERVER.stop()
