"""A long run's charts on page open: bytes sent and the time to build them, every point vs the
point budget (a min/max-preserving downsample of each series).

    python bench/chart_history.py [--steps 100000] [--repeat 5]

A run of STEPS steps logs what the trainer logs every step (loss, smoothed loss, one learning
rate), and the Run tab's loss and learning-rate charts are built on it. Each chart's payload is
what NiceGUI sends of it, serialised with NiceGUI's own JSON: the element as the page's HTML
embeds it on page open, and as the websocket 'update' message carries it on a reconnect or a
chart (re)send. 'every point' is the same chart with no budget (what was sent before the
budget). Build time is the server-side time to make and serialise both payloads (best of
--repeat); 'as ui.plotly sends it' adds the way NiceGUI's plotly element sends a figure (its
props observe a copy of every point). Goal: at most 300 KB on page open.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_scalars(steps: int) -> dict[str, tuple[list, list]]:
    import numpy as np

    rng = np.random.default_rng(0)
    loss = np.abs(rng.standard_normal(steps) * 0.05 + 0.12).tolist()
    smooth, last = [], loss[0]
    for value in loss:
        last = 0.99 * last + 0.01 * value
        smooth.append(last)
    lr = (1e-4 * np.cos(np.linspace(0, np.pi / 2, steps))).tolist()
    x = list(range(steps))
    return {'lr/unet': (x, lr), 'loss/train_step': (list(x), loss), 'smooth_loss/train_step': (list(x), smooth)}


def charts(scalars: dict[str, tuple[list, list]]):
    """The Run tab's charts of these scalars, in a page of their own."""
    from nicegui import Client, ui

    from ot_nicegui.state.run_view import TRACE_STYLES, group_tags, group_title
    from ot_nicegui.widgets.live_elements import LivePlot
    from ot_nicegui.widgets.live_feed import ChartStream, LiveChannel

    client = Client(ui.page(''), request=None)
    stream = ChartStream('run:1', scalars)
    plots = []
    with client:
        for group, tags in group_tags(scalars).items():
            plot = LivePlot(LiveChannel(), stream, group_title(group), log_y=group == 'lr')
            for tag in tags:
                plot.add_trace(tag, TRACE_STYLES.get(tag))
            plots.append(plot)
    return plots


def payload(plots) -> bytes:
    from nicegui import json

    return json.dumps({plot.id: plot._to_dict() for plot in plots}).encode()


def previous_way(plots, repeat: int) -> tuple[int, float]:
    """Every point, sent as NiceGUI's plotly element sends its figure: put into the element's
    observed props (a watched copy of every point), then serialised."""
    from nicegui import json, ui

    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        payload = {}
        for plot in plots:
            with plot._props.suspend_updates():
                plot._props['options'] = plot.figure
            payload[plot.id] = ui.element._to_dict(plot)
        size = len(json.dumps(payload).encode())
        times.append(time.perf_counter() - start)
    return size, min(times)


def measure(plots, budget: int, repeat: int) -> tuple[int, float]:
    for plot in plots:
        plot.POINT_BUDGET = budget
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(payload(plots))
        times.append(time.perf_counter() - start)
    return size, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=100_000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    from ot_nicegui.widgets.live_elements import LivePlot

    scalars = run_scalars(args.steps)
    plots = charts(scalars)
    budget = LivePlot.POINT_BUDGET
    previous_size, previous_time = previous_way(plots, args.repeat)
    every_size, every_time = measure(plots, sys.maxsize, args.repeat)
    budget_size, budget_time = measure(plots, budget, args.repeat)
    print(f'run: {args.steps} steps, {len(scalars)} series in {len(plots)} charts; budget {budget} points a series')
    print(f'page open, every point as ui.plotly sends it: {previous_size / 1000:9.1f} KB,'
          f' built in {previous_time * 1000:7.1f} ms')
    print(f'page open, every point:   {every_size / 1000:9.1f} KB, built in {every_time * 1000:7.1f} ms')
    print(f'page open, point budget:  {budget_size / 1000:9.1f} KB, built in {budget_time * 1000:7.1f} ms'
          f' (goal <= 300 KB)')
    print(f'ratio budget / every point: bytes {budget_size / every_size:.3f}, build time {budget_time / every_time:.3f}'
          f' ({budget_time / previous_time:.3f} of the ui.plotly way)')


if __name__ == '__main__':
    main()
