"""Scalars straight from TensorBoard event files, read incrementally.

A run is a folder holding `events.out.tfevents.*` files (the trainer writes one folder per run
under `<workspace>/tensorboard/`). An event file is a sequence of TFRecords (length, its
checksum, the serialised `Event`, its checksum). `EventFileTail` remembers how far it has read
each file and reads only the bytes after the last complete record, so refreshing a run costs what
was appended, not the size of the files; a record still being written stays for the next read.
A file that shrank or was replaced is read again from its start. `ScalarStore` keeps each file's
parsed series and the run's series (the files' in name order, as TensorBoard reads them).
No TensorBoard server is needed; tensorboard itself (for the `Event` protobuf) is imported
lazily: the UI starts without it.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EVENT_FILE_MARK = 'tfevents'
HEADER = struct.Struct('<QI')  # record length, masked CRC-32C of the length
FOOTER = 4  # masked CRC-32C of the record
HEAD_BYTES = 64  # a file whose first bytes changed was replaced


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


def _masked_crc(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C, rotated and offset."""
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class CorruptRecord(Exception):
    """A record whose checksum does not match: the file is read no further (as TensorBoard does)."""


def split_records(data: bytes) -> tuple[list[bytes], int]:
    """The complete records at the start of `data`, and the number of bytes they take (a record
    cut short at the end is left for a later read)."""
    records: list[bytes] = []
    view = memoryview(data)
    position, size = 0, len(data)
    while size - position >= HEADER.size:
        length, length_crc = HEADER.unpack_from(data, position)
        if _masked_crc(view[position:position + 8]) != length_crc:
            raise CorruptRecord(f'bad length checksum at byte {position}')
        start = position + HEADER.size
        end = start + length
        if end + FOOTER > size:
            break
        record = data[start:end]
        if _masked_crc(record) != struct.unpack_from('<I', data, end)[0]:
            raise CorruptRecord(f'bad record checksum at byte {position}')
        records.append(record)
        position = end + FOOTER
    return records, position


class EventFileTail:
    """The records appended to one event file since the last read."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offset = 0  # bytes of complete records read so far
        self.corrupt: str | None = None  # why the file is read no further
        self._identity: tuple[int, int] | None = None
        self._head = b''

    def read(self) -> tuple[list[bytes], bool]:
        """(new records, restarted): `restarted` when the file shrank or was replaced since the
        last read; the records are then all of the file's, from its start."""
        try:
            stat = os.stat(self.path)
            with open(self.path, 'rb') as file:
                identity = (stat.st_dev, stat.st_ino)
                head = file.read(min(HEAD_BYTES, self.offset)) if self.offset else b''
                restarted = self.offset > 0 and (identity != self._identity or stat.st_size < self.offset
                                                 or head != self._head[:len(head)])
                if restarted:
                    self.offset, self.corrupt = 0, None
                self._identity = identity
                if self.corrupt is not None or stat.st_size <= self.offset:
                    return [], restarted
                file.seek(self.offset)
                data = file.read(stat.st_size - self.offset)
        except FileNotFoundError:
            restarted, self.offset, self._identity = self.offset > 0, 0, None
            return [], restarted
        try:
            records, used = split_records(data)
        except CorruptRecord as exc:
            self.corrupt = str(exc)
            return [], restarted
        if self.offset == 0:
            self._head = data[:HEAD_BYTES]
        self.offset += used
        return records, restarted


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


def parse_scalars(records: Iterable[bytes], wanted: set[str] | None = None) -> dict[str, Series]:
    """The scalar points of serialised `Event` records, per tag, in record order."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.event_pb2 import Event

    out: dict[str, Series] = {}
    for record in records:
        try:
            event = Event.FromString(record)
        except DecodeError:
            continue  # not an event (its checksum matched, so it was written so)
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


def _event_files(run_dir: Path) -> list[Path]:
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if is_event_file(p))


class RunReader:
    """Incremental scalar reader for one run folder: each `read` returns what is new."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._tails: dict[Path, EventFileTail] = {}

    def read(self, tags: Iterable[str] | None = None) -> dict[str, Series]:
        """New scalar points per tag since the last call (all of them on the first call)."""
        wanted = None if tags is None else set(tags)
        out: dict[str, Series] = {}
        for path in _event_files(self.run_dir):
            tail = self._tails.get(path)
            if tail is None:
                tail = self._tails[path] = EventFileTail(path)
            records, _ = tail.read()
            for tag, series in parse_scalars(records, wanted).items():
                out.setdefault(tag, Series()).extend(series)
        return out


@dataclass
class Refresh:
    """What a `ScalarStore.refresh` found: the points appended to the end of each series, or
    `rebuilt` when the series changed otherwise (a file was replaced, shrank or went away, or
    an earlier file grew): then every series is to be taken anew."""

    new: dict[str, Series]
    rebuilt: bool = False


class ScalarStore:
    """Every scalar of a run, kept up to date with `refresh()`, which reads only what the files
    gained since."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._tails: dict[Path, EventFileTail] = {}
        self._files: dict[Path, dict[str, Series]] = {}  # each file's points
        self.series: dict[str, Series] = {}  # the run's: the files' in name order
        self.generation = 0  # counts the times the series changed other than by appending

    def refresh(self) -> Refresh:
        """Read what is new; returns the new points (or that everything changed)."""
        paths = _event_files(self.run_dir)
        rebuilt = False
        for gone in self._tails.keys() - set(paths):
            del self._tails[gone]
            rebuilt |= bool(self._files.pop(gone, None))
        new: dict[str, Series] = {}
        for index, path in enumerate(paths):
            tail = self._tails.get(path)
            if tail is None:
                tail = self._tails[path] = EventFileTail(path)
            records, restarted = tail.read()
            if restarted:
                self._files.pop(path, None)
                rebuilt = True
            points = parse_scalars(records)
            if not points:
                continue
            later = any(self._files.get(p) for p in paths[index + 1:])
            rebuilt |= later  # the new points go before others: not an append
            mine = self._files.setdefault(path, {})
            for tag, series in points.items():
                mine.setdefault(tag, Series()).extend(series)
                new.setdefault(tag, Series()).extend(series)
        if rebuilt:
            self.generation += 1
            self.series = {}
            for path in paths:
                for tag, series in self._files.get(path, {}).items():
                    self.series.setdefault(tag, Series()).extend(series)
            return Refresh({}, rebuilt=True)
        for tag, series in new.items():
            self.series.setdefault(tag, Series()).extend(series)
        return Refresh(new)

    @property
    def tags(self) -> list[str]:
        return sorted(self.series)


Points = dict[str, tuple[list[int], list[float]]]  # tag -> (steps, values)


@dataclass(frozen=True)
class Known:
    """How much of a run's series a reader has: the store's generation and the points per tag."""

    generation: int
    counts: dict[str, int]


class StoreCache:
    """One ScalarStore per run folder for the whole process; reads may come from any thread."""

    def __init__(self) -> None:
        import threading

        self._stores: dict[Path, ScalarStore] = {}
        self._lock = threading.Lock()

    def since(self, run_dir: str | os.PathLike, have: Known | None = None) -> tuple[Points, Known, bool]:
        """The run's points that a reader who `have` (what an earlier call returned) lacks, as
        copies: (points per tag, what the reader has now, whether they are all of them: a first
        read, or the series changed otherwise). Costs what the files gained, not their size."""
        key = Path(run_dir).resolve()
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = ScalarStore(key)
            store.refresh()
            counts = {tag: len(series) for tag, series in store.series.items()}
            now = Known(store.generation, counts)
            if have is None or have.generation != store.generation:
                return {tag: (list(s.steps), list(s.values)) for tag, s in store.series.items()}, now, True
            points = {tag: (s.steps[have.counts.get(tag, 0):], s.values[have.counts.get(tag, 0):])
                      for tag, s in store.series.items() if len(s) > have.counts.get(tag, 0)}
            return points, now, False

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


class Smoother:
    """TensorBoard's smoothing: an exponential moving average with the start-up bias removed,
    fed a piece at a time (a followed run's new points continue the curve).

    weight 0 returns the values unchanged; non-finite values are passed through and skipped."""

    def __init__(self, weight: float) -> None:
        self.weight = min(max(float(weight), 0.0), 0.999)
        self._last = 0.0
        self._count = 0

    def extend(self, values: Iterable[float]) -> list[float]:
        weight = self.weight
        out: list[float] = []
        for value in values:
            if not np.isfinite(value):
                out.append(value)
                continue
            self._last = self._last * weight + (1 - weight) * value
            self._count += 1
            debias = 1.0 - weight ** self._count if weight > 0 else 1.0
            out.append(self._last / debias)
        return out


def smooth(values: Iterable[float], weight: float) -> list[float]:
    """TensorBoard's smoothing of a whole curve (see `Smoother`)."""
    return Smoother(weight).extend(values)


def run_traces(run: str, points: tuple[list, list], weight: float,
               color: str, smoother: Smoother | None = None) -> dict[str, tuple[dict, tuple]]:
    """A run's chart traces, {trace name: (style, (xs, ys))}: the smoothed curve over a faint raw
    one (raw alone at 0). With `smoother`, the points continue its curve."""
    steps, values = points
    if weight <= 0:
        return {run: ({'line': {'color': color, 'width': 1.5}}, (steps, values))}
    smoothed = (smoother or Smoother(weight)).extend(values)
    return {
        f'{run} (raw)': ({'line': {'color': color, 'width': 1}, 'opacity': 0.3, 'showlegend': False},
                         (steps, values)),
        run: ({'line': {'color': color, 'width': 2}}, (steps, smoothed)),
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
