"""A run's TensorBoard event file, written on the thread that logs.

TensorBoard's own writer hands every event to a background thread, which frames and checksums it
in Python: while it does, it holds the interpreter lock, and the training thread, back from each
tensor operation, waits for it (two thread hand-overs a step, a few percent of a small model's
step on a busy CPU). The trainer logs in batches anyway, so each batch is written right where it
is made: the same records (tensorboard's record framing and event protos), and no thread.
"""
from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path

_serial = itertools.count()  # two logs of one process opened within a second get distinct files


class EventLog:
    def __init__(self, directory: Path):
        from tensorboard.summary.writer.record_writer import RecordWriter

        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
                                 f".{os.getpid()}.{next(_serial)}")
        self._records = RecordWriter(open(self.path, "wb"))  # noqa: SIM115 - closed by close()
        self._write(file_version="brain.Event:2")
        self.flush()

    def add_scalars(self, entries: Iterable[tuple[str, float, int, float]]) -> None:
        """(tag, value, step, wall time) entries in step order, as one event per step holding all of
        that step's values (they were logged microseconds apart: the first one's wall time)."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        for step, group in itertools.groupby(entries, key=lambda entry: entry[2]):
            group = list(group)
            values = [Summary.Value(tag=tag, simple_value=float(value)) for tag, value, _, _ in group]
            self.add_summary(Summary(value=values), step, group[0][3])
        self.flush()

    def add_image(self, tag: str, image, step: int, dataformats: str = "HWC") -> None:
        """An image (uint8 array or tensor) as an image summary, shown by TensorBoard's Images tab."""
        from torch.utils.tensorboard.summary import image as image_summary

        self.add_summary(image_summary(tag, image, dataformats=dataformats), step)
        self.flush()

    def add_summary(self, summary, step: int, wall_time: float | None = None) -> None:
        self._write(wall_time=wall_time, step=int(step), summary=summary)

    def flush(self) -> None:
        if not self._records.closed:
            self._records.flush()

    def close(self) -> None:
        if not self._records.closed:
            self._records.close()

    def _write(self, wall_time: float | None = None, **fields) -> None:
        """One event of `fields`, stamped now unless `wall_time` says when."""
        from tensorboard.compat.proto.event_pb2 import Event

        event = Event(wall_time=time.time() if wall_time is None else wall_time, **fields)
        self._records.write(event.SerializeToString())
