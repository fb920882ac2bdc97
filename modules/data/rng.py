"""Seeded randomness for the data pipeline.

Every random draw is made from a generator keyed by what it decides (stage name, variation,
sample index, seed), so a sample's augmentations are the same whenever and wherever it is
produced: resume, cache refills and worker threads cannot change them.
"""

import random
from enum import Enum

# The pipeline's base seed for draws that belong to no concept (epoch order).
BASE_SEED = 42


def keyed_rng(*key: object) -> random.Random:
    """A generator seeded from the key's text (stable across processes and Python hash seeds)."""
    return random.Random(":".join(str(part) for part in key))


def enum_name(value: object) -> str:
    """Config values may be enum members or plain strings; compare them by name."""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
