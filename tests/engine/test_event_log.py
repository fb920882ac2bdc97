"""The run's TensorBoard event file: written on the logging thread, readable while the run goes on."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np


def _accumulated(directory: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_scalars_are_one_event_per_step_and_readable_before_close(tmp_path: Path) -> None:
    from modules.train.event_log import EventLog

    threads = threading.active_count()
    log = EventLog(tmp_path / "tb")
    log.add_scalars([("loss", 0.5, 0, 100.0), ("lr", 1e-4, 0, 100.001), ("loss", 0.25, 1, 101.0)])
    assert threading.active_count() == threads  # no writer thread to take turns with training

    events = _accumulated(tmp_path / "tb")  # not closed yet: a live run's chart reads it now
    loss = events.Scalars("loss")
    assert [(e.step, e.value, e.wall_time) for e in loss] == [(0, 0.5, 100.0), (1, 0.25, 101.0)]
    assert [(e.step, e.wall_time) for e in events.Scalars("lr")] == [(0, 100.0)]  # the step's first wall time
    log.close()
    log.close()  # closing twice is harmless (a failed run closes in its own clean-up too)


def test_images_and_a_second_log_of_the_same_second(tmp_path: Path) -> None:
    from modules.train.event_log import EventLog

    first, second = EventLog(tmp_path), EventLog(tmp_path)
    assert first.path != second.path
    first.add_image("sample0 - a red thing", np.full((8, 6, 3), (255, 0, 0), dtype=np.uint8), 3)
    second.add_scalars([("loss", 1.0, 7, 5.0)])
    first.close()
    second.close()
    events = _accumulated(tmp_path)
    image = events.Images("sample0 - a red thing")[0]
    assert (image.step, image.width, image.height) == (3, 6, 8)
    assert [e.step for e in events.Scalars("loss")] == [7]


def test_our_reader_reads_it(tmp_path: Path) -> None:
    from modules.train.event_log import EventLog
    from ot_nicegui.tb_reader import read_scalars

    log = EventLog(tmp_path)
    log.add_scalars([("loss/train_step", step / 4, step, float(step)) for step in range(5)])  # exact in float32
    series = read_scalars(tmp_path)["loss/train_step"]
    assert series.steps == [0, 1, 2, 3, 4] and series.values == [0.0, 0.25, 0.5, 0.75, 1.0]
    log.close()
