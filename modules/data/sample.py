"""One concept's per-sample pipeline: load, mask augmentations, bucket, scale + crop, augment.

A sample is identified by (item, variation); every random decision is drawn from generators
keyed by the concept seed, the stage name, the variation and the item index.
"""

from dataclasses import dataclass

import torch

from . import image_ops
from .augment import RotateCrop, adjust_colors, circular_mask_shrink, flip_and_rotate, mask_rotate_crop
from .resolution import parse_resolution, scale_to_cover, target_resolution
from .rng import keyed_rng
from .scan import Item
from .text_augment import CaptionAugmenter


@dataclass(frozen=True)
class Geometry:
    original_size: tuple[int, int]  # (h, w) before scaling (after a mask rotate-crop)
    resolution: tuple[int, int]  # final (h, w)
    scaled_size: tuple[int, int]
    crop_offset: tuple[int, int]  # (top, left) inside the scaled image


@dataclass
class ImageSample:
    pixels: torch.Tensor  # (3, h, w) in [-1, 1]
    mask: torch.Tensor | None  # (1, h, w) in [0, 1]
    geometry: Geometry


class SamplePipeline:
    def __init__(self, concept, resolution: str, *, bucketing: bool, quantum: int, with_masks: bool):
        self.concept = concept
        image = concept.image
        if image.enable_resolution_override:
            resolution = image.resolution_override
        self.spec = parse_resolution(resolution)
        self.bucketing = bucketing
        self.quantum = quantum
        self.with_masks = with_masks
        self.caption_augmenter = CaptionAugmenter(concept.text)
        self._sizes: dict[int, tuple[int, int]] = {}

    def _rng(self, item: Item, variation: int):
        seed = int(self.concept.seed)
        return lambda stage: keyed_rng(seed, stage, variation, item.index)

    # --- geometry -------------------------------------------------------------------------------
    def _size(self, item: Item) -> tuple[int, int]:
        if item.index not in self._sizes:
            self._sizes[item.index] = image_ops.image_size(item.path)
        return self._sizes[item.index]

    def _masks_move_crop(self) -> bool:
        return self.with_masks and bool(self.concept.image.enable_random_mask_rotate_crop)

    def resolution(self, item: Item, variation: int) -> tuple[int, int]:
        """The final (h, w) of a sample without loading its pixels."""
        size = self._size(item)
        if self._masks_move_crop():
            _, rotate_crop = self._mask_stage(item, variation, size)
            if rotate_crop is not None:
                size = rotate_crop.box[2:]
        return self._geometry(item, variation, size).resolution

    def _geometry(self, item: Item, variation: int, size: tuple[int, int]) -> Geometry:
        rng = self._rng(item, variation)
        target = target_resolution(self.spec, *size, bucketing=self.bucketing, quantum=self.quantum,
                                   rng=rng("resolution"))
        scaled = scale_to_cover(*size, target)
        spare_h, spare_w = scaled[0] - target[0], scaled[1] - target[1]
        if self.concept.image.enable_crop_jitter:
            crop_rng = rng("crop")
            offset = (crop_rng.randint(0, spare_h), crop_rng.randint(0, spare_w))
        else:
            offset = (spare_h // 2, spare_w // 2)
        return Geometry(tuple(size), target, scaled, offset)

    # --- pixels ---------------------------------------------------------------------------------
    def _mask_stage(self, item: Item, variation: int, size) -> tuple[torch.Tensor | None, RotateCrop | None]:
        if not self.with_masks:
            return None, None
        if item.mask_path is not None:
            mask = image_ops.load_mask(item.mask_path, size)
        else:
            mask = torch.ones(1, *size)
        settings = self.concept.image
        rng = self._rng(item, variation)
        if settings.enable_random_circular_mask_shrink:
            mask = circular_mask_shrink(mask, rng("circular_mask_shrink"))
        rotate_crop = None
        if settings.enable_random_mask_rotate_crop:
            rotate_crop = mask_rotate_crop(mask, rng("mask_rotate_crop"), self.spec.min_side())
        return mask, rotate_crop

    def image_sample(self, item: Item, variation: int) -> ImageSample:
        image = image_ops.load_image(item.path)
        mask, rotate_crop = self._mask_stage(item, variation, tuple(image.shape[-2:]))
        if rotate_crop is not None:
            image, mask = rotate_crop.apply(image), rotate_crop.apply(mask)
        geometry = self._geometry(item, variation, tuple(image.shape[-2:]))
        image = self._scale_crop(image, geometry)
        mask = self._scale_crop(mask, geometry) if mask is not None else None
        settings = self.concept.image
        rng = self._rng(item, variation)
        image, mask = flip_and_rotate(image, mask, settings, rng)
        image = adjust_colors(image, settings, rng)
        return ImageSample(pixels=image * 2.0 - 1.0, mask=mask, geometry=geometry)

    @staticmethod
    def _scale_crop(t: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        scaled = image_ops.resize(t, geometry.scaled_size)
        return image_ops.crop(scaled, *geometry.crop_offset, *geometry.resolution).contiguous()

    # --- text -----------------------------------------------------------------------------------
    def prompt(self, item: Item, variation: int) -> str:
        rng = self._rng(item, variation)
        caption = rng("caption").choice(item.captions)
        return self.caption_augmenter(caption, rng)
