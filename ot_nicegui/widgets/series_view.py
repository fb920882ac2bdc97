"""What a chart is sent of a long series: every point while they fit a point budget, else a
min/max-preserving downsample (M4: the first, lowest, highest and last point of each of
budget/4 equal slices, from tsdownsample), so a spike or a dip stays visible however long the run.
A zoomed chart gets the points of its x-range at full resolution (up to the budget) and a coarse
outline of the rest.

Slices are equal in point count, not in x, so steps that repeat or go back (a resumed run) are
fine; the points that are kept stay in the series' own order.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OUTLINE_SHARE = 8  # a zoomed chart's budget goes 1/8 to the outline left and right of its range each


def _m4(values: np.ndarray, budget: int) -> np.ndarray:
    """Indices (ascending) of at most `budget` points of `values` that keep each slice's extremes."""
    from tsdownsample import M4Downsampler

    budget -= budget % 4  # M4 keeps four points a slice
    if len(values) <= budget:
        return np.arange(len(values))
    if budget < 4:
        return np.array([0, len(values) - 1][:max(budget, 0)], dtype=np.int64)
    # a slice's first point may be its lowest too: each point once
    return np.unique(np.asarray(M4Downsampler().downsample(values, n_out=budget), dtype=np.int64))


def _pick(xs: Sequence, ys: Sequence, indices: np.ndarray) -> tuple[list, list]:
    return [xs[i] for i in indices.tolist()], [ys[i] for i in indices.tolist()]


def downsample(xs: Sequence, ys: Sequence, budget: int) -> tuple[list, list]:
    """At most `budget` points of the series (copies): all of them when they fit, else each
    slice's first, lowest, highest and last (so the global extremes and both ends are kept)."""
    if len(xs) <= budget:
        return list(xs), list(ys)
    values = np.asarray(ys, dtype=np.float64)
    return _pick(xs, ys, _m4(values, budget))


def zoomed(xs: Sequence, ys: Sequence, budget: int, x_range: tuple[float, float]) -> tuple[list, list]:
    """The points of `x_range` at full resolution (downsampled only when more than fit the
    budget), with a downsampled outline of the points left and right of it; at most `budget`
    points in all, in the series' order."""
    if len(xs) <= budget:
        return list(xs), list(ys)
    x = np.asarray(xs, dtype=np.float64)
    values = np.asarray(ys, dtype=np.float64)
    low, high = sorted(x_range)
    inside = (x >= low) & (x <= high)
    outline = budget // OUTLINE_SHARE
    parts = []
    for mask, part_budget in ((x < low, outline), (inside, budget - 2 * outline), (x > high, outline)):
        where = np.flatnonzero(mask)
        if len(where):
            parts.append(where[_m4(values[where], part_budget)])
    indices = np.sort(np.concatenate(parts)) if parts else np.arange(0)
    return _pick(xs, ys, indices)


def view(xs: Sequence, ys: Sequence, budget: int, x_range: tuple[float, float] | None = None) -> tuple[list, list]:
    """What a chart shows of a series: `zoomed` to `x_range` when it has one, else `downsample`."""
    if x_range is None:
        return downsample(xs, ys, budget)
    return zoomed(xs, ys, budget, x_range)
