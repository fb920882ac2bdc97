"""Reading 100k TensorBoard scalar points: our reader vs tensorboard's EventAccumulator.

    python bench/tb_reader.py [--points 100000] [--tags 4] [--repeat 3]

Prints the best-of-N seconds of each and the ratio (EventAccumulator time / our time; above 1
means ours is faster). Both read every point (the accumulator's reservoir is switched off).
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
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_points(folder, args.points, args.tags)
        ours(folder), accumulator(folder)  # warm imports
        t_ours, n_ours = best(ours, folder, args.repeat)
        t_acc, n_acc = best(accumulator, folder, args.repeat)
    assert n_ours == n_acc == args.points, (n_ours, n_acc)
    print(f'points: {args.points} in {args.tags} tags')
    print(f'ours (RawEventFileLoader):      {t_ours:.3f} s')
    print(f'tensorboard EventAccumulator:   {t_acc:.3f} s')
    print(f'ratio accumulator / ours:       {t_acc / t_ours:.2f}')


if __name__ == '__main__':
    main()
