"""Reading scalars from event files: all points, incrementally, like TensorBoard's own reader."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from live.support import write_run
from ot_nicegui.tb_reader import RunReader, ScalarStore, Smoother, StoreCache, list_runs, read_scalars, smooth


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


def event_bytes(folder: Path, steps: range) -> bytes:
    """The bytes of an event file holding `steps` (see `write_run`)."""
    write_run(folder, steps)
    file, = folder.iterdir()
    return file.read_bytes()


def as_lists(series: dict) -> dict:
    return {tag: (s.steps, s.values) for tag, s in series.items()}


def test_a_refresh_reads_only_what_was_appended_and_a_cut_record_waits(tmp_path: Path) -> None:
    data = event_bytes(tmp_path / 'source', range(40))
    run = tmp_path / 'run'
    run.mkdir()
    file = run / 'events.out.tfevents.1.host'
    cut = len(data) - 7  # the last record is still being written
    file.write_bytes(data[:cut])
    store = ScalarStore(run)
    first = store.refresh()
    assert first.new['lr/unet'].steps == list(range(39)) and not first.rebuilt
    assert len(store.series['loss/train_step']) == 40  # the last record holds only the learning rate of step 39
    tail, = store._tails.values()
    assert tail.offset < cut  # the cut record is read again, whole, later
    assert store.refresh().new == {}

    with file.open('ab') as out:
        out.write(data[cut:])
    second = store.refresh()
    assert as_lists(second.new) == {'lr/unet': ([39], [40.0])}
    assert tail.offset == len(data)
    assert as_lists(store.series) == as_lists(read_scalars(tmp_path / 'source'))

    more = event_bytes(tmp_path / 'more', range(40, 45))
    with file.open('ab') as out:  # what a later writer appends: its own file header record, then events
        out.write(more)
    third = store.refresh()
    assert third.new['loss/train_step'].steps == list(range(40, 45)) and tail.offset == len(data) + len(more)
    reference = EventAccumulator(str(run), size_guidance={'scalars': 0})
    reference.Reload()
    for tag in reference.Tags()['scalars']:
        assert store.series[tag].steps == [e.step for e in reference.Scalars(tag)]
        assert store.series[tag].values == pytest.approx([e.value for e in reference.Scalars(tag)])


def test_new_files_appear_and_a_replaced_or_shrunk_file_is_read_again(tmp_path: Path) -> None:
    run = tmp_path / 'run'
    write_run(run, range(10))
    store = ScalarStore(run)
    store.refresh()
    time.sleep(1.1)  # a second writer gets a new file name (seconds in the name)
    write_run(run, range(10, 15))
    refresh = store.refresh()
    assert refresh.new['loss/train_step'].steps == list(range(10, 15)) and not refresh.rebuilt
    assert store.series['loss/train_step'].steps == list(range(15))

    first = sorted(run.iterdir())[0]
    replacement = event_bytes(tmp_path / 'other', range(3))
    first.write_bytes(replacement)  # a shorter file under the same name
    refresh = store.refresh()
    assert refresh.rebuilt and store.series['loss/train_step'].steps == [0, 1, 2, *range(10, 15)]
    assert as_lists(store.series) == as_lists(read_scalars(run))

    same_size = event_bytes(tmp_path / 'third', [0, 5, 6])
    assert len(same_size) == len(replacement)
    (run / 'swap').write_bytes(same_size)
    (run / 'swap').replace(first)  # another file of the same size took its place
    refresh = store.refresh()
    assert refresh.rebuilt and store.series['loss/train_step'].steps == [0, 5, 6, *range(10, 15)]

    first.unlink()
    assert store.refresh().rebuilt and store.series['loss/train_step'].steps == list(range(10, 15))


def test_a_reader_gets_only_what_it_lacks(tmp_path: Path) -> None:
    run = tmp_path / 'run'
    write_run(run, range(5))
    cache = StoreCache()
    points, known, everything = cache.since(run)
    assert everything and points['loss/train_step'] == (list(range(5)), [0.5, 1.0, 1.5, 2.0, 2.5])
    assert cache.since(run, known)[0] == {}
    other_points, other, _ = cache.since(run)  # a second reader
    time.sleep(1.1)
    write_run(run, range(5, 7))
    points, known, everything = cache.since(run, known)
    assert not everything and points['loss/train_step'] == ([5, 6], [3.0, 3.5])
    points, _, everything = cache.since(run, other)  # the same points for the other reader
    assert not everything and points['lr/unet'] == ([5, 6], [6.0, 7.0])
    sorted(run.iterdir())[0].unlink()
    points, _, everything = cache.since(run, known)
    assert everything and points['loss/train_step'] == ([5, 6], [3.0, 3.5])


def test_a_followed_curve_is_smoothed_on_as_a_whole_one_is() -> None:
    values = [1.0, 5.0, 2.0, float('nan'), 8.0, 3.0]
    smoother = Smoother(0.7)
    assert smoother.extend(values[:2]) + smoother.extend(values[2:5]) + smoother.extend(values[5:]) \
        == pytest.approx(smooth(values, 0.7), nan_ok=True)
