"""Preview of a concept image as training would see it, through the data pipeline itself."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

from modules.config.concept_config import ConceptConfig

PREVIEW_SIZE = 300
PREVIEW_QUANTUM = 8
MASK_FLOOR = 0.3  # outside the mask the preview is darkened to this brightness, not blacked out


@dataclass
class Preview:
    image: Image.Image
    caption: str
    file: str
    index: int
    count: int


def first_image(concept) -> Path | None:
    """The concept's first training image (for the card thumbnail); None when there is none."""
    from modules.data.scan import list_images

    if not concept.path:
        return None
    try:
        images = list_images(Path(concept.path), bool(concept.include_subdirectories))
    except (FileNotFoundError, OSError):
        return None
    return images[0] if images else None


def thumbnail(path: Path, size: int = 150) -> Image.Image:
    """A square centre crop of an image, for the concept cards."""
    from PIL import ImageOps

    with Image.open(path) as img:
        return ImageOps.fit(ImageOps.exif_transpose(img).convert('RGB'), (size, size))


THUMB_SIZE = 150


@lru_cache(maxsize=256)
def _thumbnail(path: str, _mtime: float) -> Image.Image:
    return thumbnail(Path(path), THUMB_SIZE)


def card_thumbnail(concept: ConceptConfig) -> Image.Image | None:
    """The first image of the concept, square-cropped (cached until the file changes); None if none."""
    path = first_image(concept)
    if path is None:
        return None
    try:
        return _thumbnail(str(path), os.path.getmtime(path))
    except OSError:
        return None


def render_preview(concept, index: int, *, augment: bool, variation: int, resolution: str = '512',
                   bucketing: bool = True) -> Preview | None:
    """The `index`-th image (wrapping) of the concept and its caption.

    With `augment` the image goes through the same pipeline as training (crop, flips, rotation,
    colour, mask augmentations) for the given variation; without it the plain image and the first
    caption are shown. None when the folder holds no image.
    """
    from modules.data.sample import SamplePipeline  # imports torch, so only when a preview is asked for
    from modules.data.scan import scan_concept

    if not concept.path:
        raise FileNotFoundError('the concept has no folder')
    items = scan_concept(concept, with_masks=True)
    if not items:
        return None
    item = items[index % len(items)]
    pipeline = SamplePipeline(concept, resolution, bucketing=bucketing, quantum=PREVIEW_QUANTUM, with_masks=True)
    if augment:
        sample = pipeline.image_sample(item, variation)
        pixels = (sample.pixels + 1.0) / 2.0
        mask = sample.mask if item.mask_path is not None else None
        caption = pipeline.prompt(item, variation)
    else:
        from modules.data import image_ops

        pixels = image_ops.load_image(item.path)
        mask = image_ops.load_mask(item.mask_path, tuple(pixels.shape[-2:])) if item.mask_path else None
        caption = item.captions[0]
    if mask is not None:
        pixels = pixels * mask.clamp(min=MASK_FLOOR)
    array = (pixels.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(array)
    image.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    return Preview(image, caption, str(item.path.name), index % len(items), len(items))
