"""Which samples an epoch holds (balancing) and in which batches (bucketed, shuffled)."""

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .rng import BASE_SEED, enum_name, keyed_rng


@dataclass(frozen=True)
class Draw:
    group: int  # concept group index
    item: int  # file index inside the group
    cycle: int  # how many times the group's file list was run through before this draw


def samples_per_epoch(file_count: int, balancing: float, strategy) -> int:
    if file_count == 0:
        return 0
    if enum_name(strategy) == "SAMPLES":
        return max(0, int(balancing))
    return max(0, math.floor(file_count * float(balancing)))


def epoch_draws(file_counts: Sequence[int], sample_counts: Sequence[int], epoch: int) -> list[Draw]:
    """Each group is walked cyclically: epoch e continues where epoch e-1 stopped."""
    draws = []
    for group, (n, n_out) in enumerate(zip(file_counts, sample_counts, strict=True)):
        start = epoch * n_out
        draws.extend(Draw(group, k % n, k // n) for k in range(start, start + n_out))
    return draws


def make_batches(draws: Sequence[Draw], resolution_of: Callable[[Draw], tuple[int, int]],
                 batch_size: int, epoch: int) -> list[list[Draw]]:
    """Group by final resolution, shuffle inside each bucket, drop partial batches, shuffle batches."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    buckets: dict[tuple[int, int], list[Draw]] = defaultdict(list)
    for draw in draws:
        buckets[tuple(resolution_of(draw))].append(draw)
    rng = keyed_rng(BASE_SEED, "batches", epoch)
    batches = []
    for resolution in sorted(buckets):
        members = buckets[resolution]
        rng.shuffle(members)
        full = len(members) - len(members) % batch_size
        batches.extend(members[i:i + batch_size] for i in range(0, full, batch_size))
    rng.shuffle(batches)
    return batches
