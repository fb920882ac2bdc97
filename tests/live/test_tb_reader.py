"""Reading scalars from event files: all points, incrementally, like TensorBoard's own reader."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from live.support import write_run
from ot_nicegui.tb_reader import RunReader, StoreCache, list_runs, read_scalars, smooth


def test_reads_every_scalar_as_the_event_accumulator_does(tmp_path: Path) -> None:
    write_run(tmp_path / 'a', range(300))
    ours = read_scalars(tmp_path / 'a')
    reference = EventAccumulator(str(tmp_path / 'a'), size_guidance={'scalars': 0})
    reference.Reload()
    assert sorted(ours) == sorted(reference.Tags()['scalars'])
    for tag, series in ours.items():
        events = reference.Scalars(tag)
        assert series.steps == [e.step for e in events]
        assert series.values == pytest.approx([e.value for e in events])
        assert series.wall_times == pytest.approx([e.wall_time for e in events])


def test_reading_again_returns_only_new_points_also_from_new_files(tmp_path: Path) -> None:
    run = tmp_path / 'run'
    write_run(run, range(5))
    reader = RunReader(run)
    assert len(reader.read()['loss/train_step']) == 5
    assert reader.read() == {}
    time.sleep(1.1)  # a second writer gets a new file name (seconds in the name)
    write_run(run, range(5, 8))
    new = reader.read(tags=['loss/train_step'])
    assert list(new) == ['loss/train_step'] and new['loss/train_step'].steps == [5, 6, 7]

    cache = StoreCache()
    steps, values = cache.read(run)['loss/train_step']
    assert steps == list(range(8)) and values[0] == 0.5
    assert cache.read(run)['loss/train_step'][0] == list(range(8))


def test_tensor_scalars_are_read_too(tmp_path: Path) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util.tensor_util import make_tensor_proto

    writer = EventFileWriter(str(tmp_path))
    for step in range(3):
        value = Summary.Value(tag='acc', tensor=make_tensor_proto(step * 0.25))
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=[value])))
    writer.close()
    series = read_scalars(tmp_path)['acc']
    assert series.steps == [0, 1, 2] and series.values == [0.0, 0.25, 0.5]


def test_runs_are_listed_newest_first_including_nested_and_root(tmp_path: Path) -> None:
    assert list_runs(tmp_path / 'missing') == []
    write_run(tmp_path / 'old', range(2))
    write_run(tmp_path / 'group' / 'new', range(2))
    (tmp_path / 'empty').mkdir()
    old_file = next((tmp_path / 'old').iterdir())
    os.utime(old_file, (1, 1))
    assert list_runs(tmp_path) == ['group/new', 'old']
    write_run(tmp_path, range(1))
    assert list_runs(tmp_path)[0] == '.'


def test_smoothing_matches_tensorboard() -> None:
    values = [1.0, 2.0, 4.0, 8.0]
    assert smooth(values, 0) == values
    assert smooth([3.0] * 5, 0.9) == pytest.approx([3.0] * 5)  # no start-up bias
    w = 0.6
    expected, last = [], 0.0
    for i, v in enumerate(values, 1):
        last = last * w + (1 - w) * v
        expected.append(last / (1 - w ** i))
    assert smooth(values, w) == pytest.approx(expected)
    assert smooth([1.0, float('nan'), 1.0], 0.5)[2] == pytest.approx(1.0)
