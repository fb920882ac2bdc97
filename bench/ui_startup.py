"""Start-up time of the app (process start -> first page served) divided by a NiceGUI hello-world.

Goal: ratio <= 1.3. Usage: .venv/bin/python bench/ui_startup.py [repeats]

The two are started alternately, and the figure is the median of the per-pair ratios: this
machine's speed drifts, and a pair measured back to back sees nearly the same machine.
"""
from __future__ import annotations

import statistics
import sys

from _servers import serve


def seconds(kind: str) -> float:
    with serve(kind) as (_url, _process, elapsed):
        return elapsed


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seconds('hello')  # warm the file cache for both
    seconds('app')
    pairs = [(seconds('hello'), seconds('app')) for _ in range(repeats)]
    ratios = [app / hello for hello, app in pairs]
    print(f'hello-world start-up: {statistics.median(h for h, _ in pairs):.2f} s (median of {repeats})')
    print(f'app start-up:         {statistics.median(a for _, a in pairs):.2f} s (median of {repeats})')
    print(f'ratio app / hello:    {statistics.median(ratios):.2f} (pairs: {", ".join(f"{r:.2f}" for r in ratios)};'
          f' goal <= 1.3)')


if __name__ == '__main__':
    main()
