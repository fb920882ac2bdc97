"""One concept's per-sample pipeline: load, mask augmentations, bucket, scale + crop, augment.

A sample is identified by (item, variation); every random decision is drawn from generators
keyed by the concept seed, the stage name, the variation and the item index. For video models a
sample is a clip: a window of frames (drawn like any augmentation) that every later stage treats
as one image, and still images become one-frame clips.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import image_ops
from .augment import RotateCrop, adjust_colors, circular_mask_shrink, flip_and_rotate, mask_rotate_crop
from .resolution import parse_resolution, scale_to_cover, target_resolution
from .rng import keyed_rng
from .scan import Item
from .text_augment import CaptionAugmenter
from .video import parse_frames, probe, read_clip


@dataclass(frozen=True)
class Geometry:
    original_size: tuple[int, int]  # (h, w) before scaling (after a mask rotate-crop)
    resolution: tuple[int, int]  # final (h, w)
    scaled_size: tuple[int, int]
    crop_offset: tuple[int, int]  # (top, left) inside the scaled image


@dataclass
class ImageSample:
    pixels: torch.Tensor  # (3, h, w) in [-1, 1]; (3, frames, h, w) for video models
    mask: torch.Tensor | None  # (1, h, w) in [0, 1]; (1, frames, h, w) for video models
    geometry: Geometry
    conditioning: torch.Tensor | None = None  # (3, h, w) in [-1, 1]: the custom inpainting image
    frames: int = 1


def single_frame(available: int, target: int) -> int:
    return 1


class SamplePipeline:
    def __init__(self, concept, resolution: str, *, bucketing: bool, quantum: int, with_masks: bool,
                 video: bool = False, frames: str = "1",
                 frame_count: Callable[[int, int], int] = single_frame):
        """With `video` (video models) samples are clips of `frame_count(available, target)` frames,
        target being one of the `frames` setting's values."""
        self.concept = concept
        image = concept.image
        if image.enable_resolution_override:
            resolution = image.resolution_override
        self.spec = parse_resolution(resolution)
        self.bucketing = bucketing
        self.quantum = quantum
        self.with_masks = with_masks
        self.caption_augmenter = CaptionAugmenter(concept.text)
        self.video = video
        self.frame_targets = parse_frames(frames) if video else (1,)
        self.frame_count = frame_count
        self._sizes: dict[int, tuple[int, int]] = {}

    def _rng(self, item: Item, variation: int):
        seed = int(self.concept.seed)
        return lambda stage: keyed_rng(seed, stage, variation, item.index)

    # --- geometry -------------------------------------------------------------------------------
    def _size(self, item: Item) -> tuple[int, int]:
        if item.size is not None:
            return item.size
        if item.index not in self._sizes:
            self._sizes[item.index] = image_ops.image_size(item.path)
        return self._sizes[item.index]

    def probe(self, item: Item) -> None:
        """Read the file's size (and a video's frame map) now: raises when the file is unreadable,
        or a ValueError when a clip is too short for every frame count the model takes."""
        if item.is_video:
            item.video = probe(item.path)
            item.size = item.video.size
            if max(self.frame_count(item.video.frames, target) for target in self.frame_targets) < 1:
                raise ValueError(f"{item.path}: {item.video.frames} frames are too few for this model")
        else:
            item.size = image_ops.image_size(item.path)

    def clip_window(self, item: Item, variation: int) -> tuple[int, int]:
        """(first frame, frame count) of the sample's clip on the 24 fps timeline; (0, 1) for images."""
        if not (self.video and item.is_video):
            return 0, 1
        if item.video is None:
            self.probe(item)
        available = item.video.frames
        rng = self._rng(item, variation)
        target = self.frame_targets[0] if len(self.frame_targets) == 1 else rng("frame_target").choice(
            self.frame_targets)
        count = self.frame_count(available, target)
        if not 1 <= count <= available:  # a target this clip is too short for: the longest count any target gives
            count = max((c for c in (self.frame_count(available, t) for t in self.frame_targets) if c <= available),
                        default=1)
        return rng("frames").randint(0, available - count), count

    def bucket(self, item: Item, variation: int) -> tuple[int, ...]:
        """What a batch must share: (h, w), plus the frame count for video models."""
        if self.video:
            return (*self.resolution(item, variation), self.clip_window(item, variation)[1])
        return self.resolution(item, variation)

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

    def _load(self, item: Item, variation: int) -> torch.Tensor:
        """(3, h, w) for an image, (frames, 3, h, w) for the sample's window of a clip."""
        if not (self.video and item.is_video):
            return image_ops.load_image(item.path)
        start, count = self.clip_window(item, variation)
        return read_clip(item.path, item.video, start, count)

    def image_sample(self, item: Item, variation: int) -> ImageSample:
        image = self._load(item, variation)
        size = tuple(image.shape[-2:])
        mask, rotate_crop = self._mask_stage(item, variation, size)
        # the custom conditioning image takes every geometric step of the image, and its colours
        condition = image_ops.load_image(item.conditioning_path) if item.conditioning_path is not None else None
        if condition is not None and tuple(condition.shape[-2:]) != size:
            condition = image_ops.resize(condition, size)
        if rotate_crop is not None:
            image, mask = rotate_crop.apply(image), rotate_crop.apply(mask)
            condition = rotate_crop.apply(condition) if condition is not None else None
        geometry = self._geometry(item, variation, tuple(image.shape[-2:]))
        image = self._scale_crop(image, geometry)
        mask = self._scale_crop(mask, geometry) if mask is not None else None
        settings = self.concept.image
        rng = self._rng(item, variation)
        image, mask = flip_and_rotate(image, mask, settings, rng)
        image = adjust_colors(image, settings, rng)
        if condition is not None:
            condition, _ = flip_and_rotate(self._scale_crop(condition, geometry), None, settings, rng)
            condition = adjust_colors(condition, settings, rng) * 2.0 - 1.0
        pixels = image * 2.0 - 1.0
        frames = 1
        if self.video:
            clip = pixels if pixels.ndim == 4 else pixels[None]  # an image is a one-frame clip
            frames = clip.shape[0]
            pixels = clip.permute(1, 0, 2, 3).contiguous()
            mask = mask[:, None].expand(-1, frames, -1, -1).contiguous() if mask is not None else None
        return ImageSample(pixels=pixels, mask=mask, geometry=geometry, conditioning=condition, frames=frames)

    @staticmethod
    def _scale_crop(t: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        scaled = image_ops.resize(t, geometry.scaled_size)
        return image_ops.crop(scaled, *geometry.crop_offset, *geometry.resolution).contiguous()

    # --- text -----------------------------------------------------------------------------------
    def prompt(self, item: Item, variation: int) -> str:
        rng = self._rng(item, variation)
        caption = rng("caption").choice(item.captions)
        return self.caption_augmenter(caption, rng)
