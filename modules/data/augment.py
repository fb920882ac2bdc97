"""Image and mask augmentations driven by a concept's `image` settings.

Each augmentation has a "random" and a "fixed" switch; random wins when both are on. Every
augmentation draws from its own generator so that enabling one does not change another's draws.
"""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import image_ops

Rng = Callable[[str], random.Random]  # stage name -> generator for this sample


def _choose(settings, name: str, rng: Rng, draw: Callable[[random.Random], float], fixed: float):
    if getattr(settings, f"enable_random_{name}"):
        return draw(rng(name))
    if getattr(settings, f"enable_fixed_{name}"):
        return fixed
    return None


def flip_and_rotate(image: torch.Tensor, mask: torch.Tensor | None, settings, rng: Rng):
    """Geometric augmentations, applied to the image and its mask alike."""
    flip = _choose(settings, "flip", rng, lambda r: r.random() < 0.5, True)
    if flip:
        image = image_ops.hflip(image)
        mask = image_ops.hflip(mask) if mask is not None else None
    limit = float(settings.random_rotate_max_angle)
    angle = _choose(settings, "rotate", rng, lambda r: r.uniform(-limit, limit), limit)
    if angle:
        image = image_ops.rotate(image, angle)
        mask = image_ops.rotate(mask, angle) if mask is not None else None
    return image, mask


def adjust_colors(image: torch.Tensor, settings, rng: Rng) -> torch.Tensor:
    """Brightness, contrast, saturation and hue (image only, never the mask)."""
    for name, apply in (
        ("brightness", image_ops.adjust_brightness),
        ("contrast", image_ops.adjust_contrast),
        ("saturation", image_ops.adjust_saturation),
    ):
        strength = float(getattr(settings, f"random_{name}_max_strength"))
        factor = _choose(settings, name, rng, lambda r, s=strength: r.uniform(1 - s, 1 + s), 1 + strength)
        if factor is not None:
            image = apply(image, max(0.0, factor))
    strength = float(settings.random_hue_max_strength)
    shift = _choose(settings, "hue", rng, lambda r: r.uniform(-strength / 2, strength / 2), strength / 2)
    if shift:
        image = image_ops.adjust_hue(image, min(0.5, max(-0.5, shift)))
    return image


def circular_mask_shrink(mask: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Keep only a random disc of the mask, centred on one of its pixels."""
    inside = mask[0] > 0.5
    points = torch.nonzero(inside)
    if points.numel() == 0:
        return mask
    cy, cx = (float(v) for v in points[rng.randrange(points.shape[0])])
    h, w = inside.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    distance = torch.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
    radius = rng.uniform(0.2, 1.0) * float(distance[inside].max())
    return mask * (distance <= radius).to(mask.dtype)[None]


@dataclass(frozen=True)
class RotateCrop:
    angle: float
    center: tuple[float, float]  # (y, x) in pixels
    box: tuple[int, int, int, int]  # top, left, height, width

    def apply(self, t: torch.Tensor) -> torch.Tensor:
        return image_ops.crop(image_ops.rotate(t, self.angle, self.center), *self.box)


def mask_rotate_crop(mask: torch.Tensor, rng: random.Random, min_side: int) -> RotateCrop | None:
    """Rotate around the mask's box centre by U(-20, 20) degrees and crop to the padded new box."""
    box = image_ops.bounding_box(mask)
    if box is None:
        return None
    top, left, bottom, right = box
    center = ((top + bottom - 1) / 2, (left + right - 1) / 2)
    angle = rng.uniform(-20.0, 20.0)
    top, left, bottom, right = image_ops.bounding_box(image_ops.rotate(mask, angle, center)) or box
    height, width = bottom - top, right - left
    top -= height * rng.uniform(0.1, 0.3)
    bottom += height * rng.uniform(0.1, 0.3)
    left -= width * rng.uniform(0.1, 0.3)
    right += width * rng.uniform(0.1, 0.3)

    # Grow (keeping the aspect ratio) until the crop holds at least the target area.
    height, width = bottom - top, right - left
    grow = math.sqrt(min_side * min_side / (height * width))
    if grow > 1:
        cy, cx = (top + bottom) / 2, (left + right) / 2
        height, width = height * grow, width * grow
        top, bottom, left, right = cy - height / 2, cy + height / 2, cx - width / 2, cx + width / 2

    img_h, img_w = mask.shape[-2:]
    top, bottom = _shift_inside(top, bottom, img_h)
    left, right = _shift_inside(left, right, img_w)
    top, left = int(math.floor(top)), int(math.floor(left))
    bottom, right = int(math.ceil(bottom)), int(math.ceil(right))
    return RotateCrop(angle, center, (top, left, max(1, bottom - top), max(1, right - left)))


def _shift_inside(low: float, high: float, limit: int) -> tuple[float, float]:
    if low < 0:
        low, high = 0.0, high - low
    if high > limit:
        low, high = low - (high - limit), float(limit)
    return max(0.0, low), min(float(limit), high)
