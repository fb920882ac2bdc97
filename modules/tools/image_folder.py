"""The images of a folder for the batch tools: listing, checking that each opens, atomic side files."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from modules.data.scan import list_images
from modules.tools.task import ToolError


def folder_images(folder: str | os.PathLike, include_subdirectories: bool) -> tuple[Path, list[Path]]:
    """The folder and its training images (side files such as masks left out), sorted."""
    if not str(folder).strip():
        raise ToolError('no folder was given')
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ToolError(f'the folder {root} does not exist')
    return root, list_images(root, include_subdirectories)


def check_readable(paths: list[Path]) -> None:
    """Every image opens, checked before anything is written (a broken file stops the run up front)."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            raise ToolError(f'cannot read the image {path}: {exc}') from exc


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert('RGB')
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ToolError(f'cannot read the image {path}: {exc}') from exc


def save_png_atomic(image: Image.Image, target: Path) -> None:
    """Write to a temporary file beside the target, then rename: a reader never sees half a file."""
    handle, temp = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.tmp', dir=target.parent)
    os.close(handle)
    try:
        image.save(temp, format='PNG')
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


def loaded_batches(paths: list[Path], size: int) -> Iterator[tuple[list[Path], list[Image.Image]]]:
    """Batches of paths with their images in RGB. A thread reads the next batch while the caller
    works on this one (a model then never waits for the disk), so at most two batches are in memory."""
    groups = batches(paths, size)
    if not groups:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix='image-loader') as loader:
        ahead = loader.submit(_load_all, groups[0])
        for index, group in enumerate(groups):
            images = ahead.result()
            if index + 1 < len(groups):
                ahead = loader.submit(_load_all, groups[index + 1])
            yield group, images


def _load_all(paths: list[Path]) -> list[Image.Image]:
    return [load_rgb(path) for path in paths]
