"""Resolution strings and aspect-ratio buckets.

Syntax: ``"N"`` (area N*N), ``"N1,N2,..."`` (one of them per sample and variation) or
``"WxH"`` (an exact size). Bucket sides are multiples of the model's quantum.
"""

import math
import random
from dataclasses import dataclass
from functools import cache

# Aspect ratios (h:w) of the buckets; their transposes are added as well.
ASPECTS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)


@dataclass(frozen=True)
class ResolutionSpec:
    areas: tuple[int, ...] = ()  # side lengths N of "N" / "N1,N2" forms
    fixed: tuple[int, int] | None = None  # (h, w) of the "WxH" form

    def min_side(self) -> int:
        if self.fixed is not None:
            return min(self.fixed)
        return min(self.areas)


def parse_resolution(text: str) -> ResolutionSpec:
    text = str(text).strip().lower().replace(" ", "")
    if "x" in text and "," not in text:
        w, h = text.split("x", 1)
        return ResolutionSpec(fixed=(int(h), int(w)))
    areas = tuple(int(part) for part in text.split(",") if part)
    if not areas:
        raise ValueError(f"invalid resolution {text!r}")
    return ResolutionSpec(areas=areas)


def quantize(value: float, quantum: int) -> int:
    return max(quantum, int(round(value / quantum)) * quantum)


@cache
def buckets_for(side: int, quantum: int) -> tuple[tuple[int, int], ...]:
    """All (h, w) buckets of roughly side*side pixels."""
    result: list[tuple[int, int]] = []
    for ratio in ASPECTS:
        for h, w in ((1.0, ratio), (ratio, 1.0)):
            norm = math.sqrt(h * w)
            bucket = (quantize(h / norm * side, quantum), quantize(w / norm * side, quantum))
            if bucket not in result:
                result.append(bucket)
    return tuple(result)


def nearest_bucket(height: int, width: int, buckets: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    aspect = height / width
    return min(buckets, key=lambda b: abs(b[0] / b[1] - aspect))


def target_resolution(spec: ResolutionSpec, height: int, width: int, *, bucketing: bool, quantum: int,
                      rng: random.Random) -> tuple[int, int]:
    """The (h, w) crop size of an image of the given size."""
    if spec.fixed is not None:
        return quantize(spec.fixed[0], quantum), quantize(spec.fixed[1], quantum)
    side = spec.areas[0] if len(spec.areas) == 1 else rng.choice(spec.areas)
    if not bucketing:
        square = quantize(side, quantum)
        return square, square
    return nearest_bucket(height, width, buckets_for(side, quantum))


def possible_resolutions(spec: ResolutionSpec, *, bucketing: bool, quantum: int) -> list[tuple[int, int]]:
    if spec.fixed is not None:
        return [(quantize(spec.fixed[0], quantum), quantize(spec.fixed[1], quantum))]
    result: list[tuple[int, int]] = []
    for side in spec.areas:
        options = buckets_for(side, quantum) if bucketing else ((quantize(side, quantum),) * 2,)
        result.extend(b for b in options if b not in result)
    return result


def scale_to_cover(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """Smallest scaled size (keeping aspect) that covers the target."""
    th, tw = target
    if height / width > th / tw:
        return max(th, round(height * tw / width)), tw
    return th, max(tw, round(width * th / height))
