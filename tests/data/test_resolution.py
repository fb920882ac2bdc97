"""Resolution strings, buckets and the scale-to-cover rule."""

import math
import random

import pytest

from modules.data.resolution import (
    buckets_for,
    nearest_bucket,
    parse_resolution,
    possible_resolutions,
    scale_to_cover,
    target_resolution,
)


def test_parse_forms():
    assert parse_resolution("512").areas == (512,)
    assert parse_resolution("512, 768,1024").areas == (512, 768, 1024)
    spec = parse_resolution("768x512")
    assert spec.fixed == (512, 768) and spec.min_side() == 512
    with pytest.raises(ValueError):
        parse_resolution("")


@pytest.mark.parametrize("side,quantum", [(512, 8), (1024, 64), (32, 8), (1024, 128)])
def test_buckets_are_quantized_and_keep_the_area(side, quantum):
    buckets = buckets_for(side, quantum)
    assert (side, side) in buckets
    assert len(set(buckets)) == len(buckets)
    for h, w in buckets:
        assert h % quantum == 0 and w % quantum == 0
        assert (w, h) in buckets
    # Before rounding every bucket has side*side pixels; rounding moves each side by < quantum/2.
    for h, w in buckets:
        assert abs(math.sqrt(h * w) - side) <= quantum
    assert max(h / w for h, w in buckets) == pytest.approx(4.0, rel=0.2)


def test_nearest_bucket_follows_aspect():
    buckets = buckets_for(512, 64)
    assert nearest_bucket(1000, 1000, buckets) == (512, 512)
    h, w = nearest_bucket(600, 1200, buckets)  # landscape 1:2
    assert w > h and w / h == pytest.approx(2.0, rel=0.15)
    h, w = nearest_bucket(1500, 1000, buckets)
    assert h / w == pytest.approx(1.5, rel=0.1)


def test_target_resolution_modes():
    rng = random.Random(0)
    spec = parse_resolution("512")
    assert target_resolution(spec, 300, 600, bucketing=False, quantum=8, rng=rng) == (512, 512)
    assert target_resolution(parse_resolution("640x450"), 10, 10, bucketing=True, quantum=64, rng=rng) == (448, 640)
    multi = parse_resolution("256,512")
    chosen = {target_resolution(multi, 100, 100, bucketing=True, quantum=8, rng=random.Random(s))
              for s in range(20)}
    assert chosen == {(256, 256), (512, 512)}


def test_possible_resolutions():
    assert possible_resolutions(parse_resolution("32,64"), bucketing=False, quantum=8) == [(32, 32), (64, 64)]
    assert set(buckets_for(64, 8)) <= set(possible_resolutions(parse_resolution("32,64"), bucketing=True, quantum=8))


def test_scale_to_cover():
    assert scale_to_cover(100, 200, (50, 50)) == (50, 100)
    assert scale_to_cover(300, 100, (64, 32)) == (96, 32)
    assert scale_to_cover(64, 32, (64, 32)) == (64, 32)
