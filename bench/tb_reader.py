"""Reading 100k TensorBoard scalar points: a refresh after 100 more vs a full read, and our full
read vs tensorboard's EventAccumulator.

    python bench/tb_reader.py [--points 100000] [--tags 4] [--new 100] [--repeat 3]

(a) A run's event file with POINTS points is read whole (`ScalarStore.refresh`, and the TensorBoard
tab's `StoreCache.since`), then NEW points are appended to the file and it is refreshed. Prints
the best-of-N seconds of each and the ratio refresh / full read (goal <= 1/50 = 0.02).
(b) Our full read vs the accumulator's: the ratio EventAccumulator time / our time (above 1 means
ours is faster). Both read every point (the accumulator's reservoir is switched off).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_points(folder: Path, points: int, tags: int) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder), max_queue_size=1000)
    names = [f'loss/tag{i}' for i in range(tags)]
    for n in range(points):
        step = n // tags
        value = Summary.Value(tag=names[n % tags], simple_value=1.0 / (1 + step))
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=[value])))
    writer.close()


def cut_file(folder: Path, keep: int) -> tuple[Path, bytes]:
    """Leave the event file with its first `keep` points; returns it and the bytes cut off."""
    from ot_nicegui.tb_reader import split_records

    file, = folder.iterdir()
    data = file.read_bytes()
    records, _ = split_records(data)
    position = 0
    for record in records[:1 + keep]:  # the file's version record, then one point a record
        position += 16 + len(record)
    file.write_bytes(data[:position])
    return file, data[position:]


def refresh_ratio(folder: Path, points: int, new: int, repeat: int) -> dict[str, tuple[float, float]]:
    """{way: (full read seconds, refresh seconds)}, each the best of `repeat`."""
    from ot_nicegui.tb_reader import ScalarStore, StoreCache

    file, rest = cut_file(folder, points)
    head = file.read_bytes()
    ways = {
        'ScalarStore.refresh': (lambda: ScalarStore(folder), lambda store, _: store.refresh()),
        'StoreCache.since (the tab)': (lambda: StoreCache(), lambda cache, known: cache.since(folder, known)),
    }
    out = {}
    for name, (make, read) in ways.items():
        full, refresh = [], []
        for _ in range(repeat):
            file.write_bytes(head)
            reader = make()
            start = time.perf_counter()
            result = read(reader, None)
            full.append(time.perf_counter() - start)
            with file.open('ab') as appended:
                appended.write(rest)
            start = time.perf_counter()
            again = read(reader, result[1] if isinstance(result, tuple) else None)
            refresh.append(time.perf_counter() - start)
            got = again[0] if isinstance(again, tuple) else again.new
            assert sum(len(s[0] if isinstance(s, tuple) else s) for s in got.values()) == new, 'refresh missed points'
        out[name] = (min(full), min(refresh))
    file.write_bytes(head + rest)
    return out


def ours(folder: Path) -> int:
    from ot_nicegui.tb_reader import read_scalars

    return sum(len(s) for s in read_scalars(folder).values())


def accumulator(folder: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={'scalars': 0})
    acc.Reload()
    return sum(len(acc.Scalars(tag)) for tag in acc.Tags()['scalars'])


def best(fn, folder: Path, repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(folder)
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=100_000)
    parser.add_argument('--tags', type=int, default=4)
    parser.add_argument('--new', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_points(folder, args.points + args.new, args.tags)
        ours(folder), accumulator(folder)  # warm imports
        refreshes = refresh_ratio(folder, args.points, args.new, args.repeat)
        cut_file(folder, args.points)
        t_ours, n_ours = best(ours, folder, args.repeat)
        t_acc, n_acc = best(accumulator, folder, args.repeat)
    assert n_ours == n_acc == args.points, (n_ours, n_acc)
    print(f'(a) refresh after {args.new} new points on a {args.points}-point run, vs a full read (goal <= 0.02):')
    for name, (full, refresh) in refreshes.items():
        print(f'    {name:28s} full {full:.3f} s, refresh {refresh * 1000:.2f} ms, ratio {refresh / full:.4f}')
    print(f'(b) points: {args.points} in {args.tags} tags')
    print(f'ours (read_scalars):            {t_ours:.3f} s')
    print(f'tensorboard EventAccumulator:   {t_acc:.3f} s')
    print(f'ratio accumulator / ours:       {t_acc / t_ours:.2f}')


if __name__ == '__main__':
    main()
