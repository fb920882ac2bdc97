"""Start-up time of the app (process start -> first page served) divided by a NiceGUI hello-world.

Goal: ratio <= 1.3. Usage: .venv/bin/python bench/ui_startup.py [repeats]
"""
from __future__ import annotations

import statistics
import sys

from _servers import serve


def measure(kind: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        with serve(kind) as (_url, _process, seconds):
            times.append(seconds)
    return statistics.median(times)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    hello = measure('hello', repeats)
    app = measure('app', repeats)
    print(f'hello-world start-up: {hello:.2f} s (median of {repeats})')
    print(f'app start-up:         {app:.2f} s (median of {repeats})')
    print(f'ratio app / hello:    {app / hello:.2f} (goal <= 1.3)')


if __name__ == '__main__':
    main()
