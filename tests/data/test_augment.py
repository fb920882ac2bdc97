"""Image and mask augmentations: each does what the settings say, and is seeded."""

import numpy as np
import pytest
import torch
from PIL import Image

from modules.data import image_ops
from modules.data.sample import SamplePipeline
from modules.data.scan import scan_concept

from .conftest import make_concept, write_image, write_mask

NO_JITTER = {"enable_crop_jitter": False}


def pipeline(folder, *, image=None, with_masks=False, resolution="32", bucketing=True, **fields):
    concept = make_concept(folder, image={**NO_JITTER, **(image or {})}, **fields)
    items = scan_concept(concept, with_masks=with_masks)
    return SamplePipeline(concept, resolution, bucketing=bucketing, quantum=8, with_masks=with_masks), items


@pytest.fixture
def one_image(tmp_path):
    folder = tmp_path / "one"
    write_image(folder / "a.png", (32, 32), seed=3)
    return folder


def pixels(folder, variation=0, **kw) -> torch.Tensor:
    pipe, items = pipeline(folder, **kw)
    return pipe.image_sample(items[0], variation).pixels


def to01(t):
    return (t + 1) / 2


def test_no_augmentation_reproduces_the_image(one_image):
    expected = torch.from_numpy(np.array(Image.open(one_image / "a.png"))).permute(2, 0, 1).float() / 255
    assert torch.allclose(to01(pixels(one_image)), expected, atol=1e-6)


def test_fixed_flip_and_random_flip(one_image):
    base = pixels(one_image)
    assert torch.equal(pixels(one_image, image={"enable_fixed_flip": True}), base.flip(-1))
    results = [pixels(one_image, v, image={"enable_random_flip": True}) for v in range(16)]
    flipped = [torch.equal(r, base.flip(-1)) for r in results]
    assert all(f or torch.equal(r, base) for f, r in zip(flipped, results, strict=True))
    assert 0 < sum(flipped) < 16
    assert torch.equal(results[5], pixels(one_image, 5, image={"enable_random_flip": True}))


def test_fixed_rotate_is_counter_clockwise(one_image):
    base = pixels(one_image)
    rotated = pixels(one_image, image={"enable_fixed_rotate": True, "random_rotate_max_angle": 90.0})
    assert torch.allclose(rotated, torch.rot90(base, 1, dims=(-2, -1)), atol=1e-4)


def test_random_rotate_is_seeded_and_varies(one_image):
    settings = {"enable_random_rotate": True, "random_rotate_max_angle": 30.0}
    a, b = pixels(one_image, 0, image=settings), pixels(one_image, 1, image=settings)
    assert torch.equal(a, pixels(one_image, 0, image=settings))
    assert not torch.allclose(a, b)
    # random wins over fixed when both are on
    assert torch.equal(a, pixels(one_image, 0, image={**settings, "enable_fixed_rotate": True}))


def test_fixed_brightness_contrast_saturation(one_image):
    base = to01(pixels(one_image))
    bright = to01(pixels(one_image, image={"enable_fixed_brightness": True, "random_brightness_max_strength": 0.5}))
    assert torch.allclose(bright, (base * 1.5).clamp(0, 1), atol=1e-5)

    gray = 0.2989 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    contrast = to01(pixels(one_image, image={"enable_fixed_contrast": True, "random_contrast_max_strength": 0.5}))
    assert torch.allclose(contrast, (1.5 * base - 0.5 * gray.mean()).clamp(0, 1), atol=1e-5)

    saturated = to01(pixels(one_image, image={"enable_fixed_saturation": True,
                                                "random_saturation_max_strength": 1.0}))
    assert torch.allclose(saturated, (2 * base - gray).clamp(0, 1), atol=1e-5)


def test_fixed_hue_turns_red_into_cyan(tmp_path):
    folder = tmp_path / "red"
    folder.mkdir()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(folder / "r.png")
    out = to01(pixels(folder, image={"enable_fixed_hue": True, "random_hue_max_strength": 1.0}))
    assert torch.allclose(out[:, 5, 5], torch.tensor([0.0, 1.0, 1.0]), atol=1e-5)


def test_hsv_round_trip():
    x = torch.rand(3, 16, 16)
    assert torch.allclose(image_ops.hsv_to_rgb(image_ops.rgb_to_hsv(x)), x, atol=1e-5)
    assert torch.allclose(image_ops.adjust_hue(x, 0.0), x, atol=1e-5)


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation", "hue"])
def test_random_color_augmentations_are_seeded(one_image, name):
    settings = {f"enable_random_{name}": True, f"random_{name}_max_strength": 0.4}
    runs = [pixels(one_image, v, image=settings) for v in range(4)]
    assert torch.equal(runs[2], pixels(one_image, 2, image=settings))
    assert len({tuple(r.flatten()[:50].tolist()) for r in runs}) > 1
    assert not all(torch.equal(r, pixels(one_image)) for r in runs)


def test_crop_jitter_and_centre_crop(tmp_path):
    folder = tmp_path / "wide"
    write_image(folder / "w.png", (64, 32), seed=1)
    full = to01(pixels(folder, resolution="64x32"))  # exact size: the whole image
    pipe, items = pipeline(folder, bucketing=False)
    centred = pipe.image_sample(items[0], 0)
    assert centred.geometry.crop_offset == (0, 16)
    assert torch.equal(to01(centred.pixels), full[:, :, 16:48])

    pipe, items = pipeline(folder, bucketing=False, image={"enable_crop_jitter": True})
    offsets = set()
    for v in range(10):
        sample = pipe.image_sample(items[0], v)
        top, left = sample.geometry.crop_offset
        offsets.add(left)
        assert torch.equal(to01(sample.pixels), full[:, :, left:left + 32])
    assert len(offsets) > 2


def test_resolution_override(one_image):
    pipe, items = pipeline(one_image, image={"enable_resolution_override": True, "resolution_override": "16"})
    sample = pipe.image_sample(items[0], 0)
    assert sample.pixels.shape == (3, 16, 16) and pipe.resolution(items[0], 0) == (16, 16)


@pytest.fixture
def masked_image(tmp_path):
    folder = tmp_path / "masked"
    write_image(folder / "m.png", (64, 64), seed=4)
    write_mask(folder / "m-masklabel.png", (64, 64), (0, 0, 32, 16))  # top-left band
    return folder


def test_mask_follows_geometry_but_not_colors(masked_image):
    kw = {"with_masks": True, "resolution": "64"}
    pipe, items = pipeline(masked_image, **kw)
    base = pipe.image_sample(items[0], 0).mask
    assert base.shape == (1, 64, 64) and base[0, :16, :32].min() == 1 and base[0, 16:].max() == 0
    pipe, items = pipeline(masked_image, image={"enable_fixed_flip": True, "enable_fixed_brightness": True,
                                                "random_brightness_max_strength": 0.5}, **kw)
    assert torch.equal(pipe.image_sample(items[0], 0).mask, base.flip(-1))


def test_circular_mask_shrink(masked_image):
    kw = {"with_masks": True, "resolution": "64", "image": {"enable_random_circular_mask_shrink": True}}
    pipe, items = pipeline(masked_image, **kw)
    areas = []
    for v in range(6):
        mask = pipe.image_sample(items[0], v).mask
        assert mask[0, 16:].max() == 0  # never grows outside the original mask
        areas.append(float(mask.sum()))
    assert all(0 < a <= 16 * 32 for a in areas)
    assert min(areas) < 16 * 32 and len(set(areas)) > 1
    assert torch.equal(pipe.image_sample(items[0], 3).mask, pipeline(masked_image, **kw)[0].image_sample(items[0], 3).mask)


def test_mask_rotate_crop_zooms_on_the_mask(masked_image):
    kw = {"with_masks": True, "resolution": "24", "image": {"enable_random_mask_rotate_crop": True}}
    pipe, items = pipeline(masked_image, **kw)
    for v in range(4):
        sample = pipe.image_sample(items[0], v)
        h, w = sample.geometry.original_size
        assert h * w < 64 * 64 and h * w >= 0.9 * 24 * 24  # a crop around the mask, at least the target area
        assert sample.mask.mean() > 0.3  # the mask fills much of the crop (it was 1/8 of the image)
        assert pipe.resolution(items[0], v) == sample.geometry.resolution  # planning agrees with loading
