"""A folder of training images as the dataset editor sees it: the images, their caption files
(`<stem>.txt`) and mask files (`<stem>-masklabel.png`, white = train), small cached thumbnails,
and atomic writes of captions and masks.

Every write checks first that its image still exists, so a caption or mask is never written for
an image that was deleted meanwhile; the message says so.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from modules.config.files import atomic_write_text
from modules.tools.task import ToolError

IMAGE_SUFFIXES = frozenset({'.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.jfif'})
# files beside the images that are not training images themselves
DERIVED_ENDINGS = ('-masklabel', '-condlabel')
MASK_ENDING = '-masklabel.png'
THUMBNAIL_SIZE = 256
MAX_MASK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DatasetImage:
    """One image of the folder: its path relative to the folder (posix), and whether its caption
    and mask files exist (as of the scan)."""
    relative: str
    has_caption: bool
    has_mask: bool


def caption_path(image: Path) -> Path:
    return image.with_suffix('.txt')


def mask_path(image: Path) -> Path:
    return image.with_name(image.stem + MASK_ENDING)


def is_training_image(name: str) -> bool:
    stem, suffix = os.path.splitext(name)
    return suffix.lower() in IMAGE_SUFFIXES and not stem.endswith(DERIVED_ENDINGS) and not name.startswith('.')


def open_folder(folder: str | os.PathLike) -> Path:
    """The folder, resolved; a clear error when it is not a folder."""
    path = Path(folder).expanduser()
    if not str(folder).strip():
        raise ToolError('no folder given')
    if not path.is_dir():
        raise ToolError(f'the folder {folder} does not exist')
    return path.resolve()


def scan(folder: str | os.PathLike, include_subfolders: bool = False) -> list[DatasetImage]:
    """The folder's training images sorted by relative path (hidden files and folders skipped).
    One directory listing per folder answers whether captions and masks exist: no stat per file,
    so a folder of thousands of images lists in milliseconds."""
    root = open_folder(folder)
    found: list[DatasetImage] = []
    pending = [root]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                names, subfolders = [], []
                for entry in entries:
                    if entry.name.startswith('.'):
                        continue
                    if include_subfolders and entry.is_dir(follow_symlinks=False):
                        subfolders.append(Path(entry.path))
                    else:
                        names.append(entry.name)
        except OSError:
            continue
        present = set(names)
        prefix = current.relative_to(root).as_posix()
        for name in names:
            if not is_training_image(name):
                continue
            stem = os.path.splitext(name)[0]
            relative = f'{prefix}/{name}' if prefix != '.' else name
            found.append(DatasetImage(relative, stem + '.txt' in present, stem + MASK_ENDING in present))
        pending.extend(subfolders)
    found.sort(key=lambda image: image.relative.lower())
    return found


def image_file(root: Path, relative: str) -> Path:
    """The image `root/relative`; a clear error when it is outside the folder or was deleted."""
    path = (root / relative).resolve()
    if root.resolve() not in path.parents:
        raise ToolError(f'{relative} is outside the opened folder')
    if not path.is_file():
        raise ToolError(f'the image {relative} no longer exists (deleted meanwhile?); nothing was saved')
    return path


def read_caption(root: Path, relative: str) -> str:
    """The caption's first line, as OneTrainer's editor shows it ('' when there is none)."""
    text = caption_text(root, relative)
    return text.splitlines()[0] if text else ''


def caption_text(root: Path, relative: str) -> str:
    """The whole caption file ('' when there is none)."""
    try:
        return caption_path(root / relative).read_text(encoding='utf-8', errors='replace')
    except (FileNotFoundError, IsADirectoryError):
        return ''


def write_caption(root: Path, relative: str, caption: str) -> Path:
    """Replace the caption's first line with `caption`; further lines (alternative captions) stay."""
    image = image_file(root, relative)
    if '\n' in caption or '\r' in caption:
        raise ToolError('a caption is one line; the other lines of the file are kept as they are')
    path = caption_path(image)
    rest: list[str] = []
    if path.is_file():
        rest = path.read_text(encoding='utf-8', errors='replace').splitlines()[1:]
    atomic_write_text(path, '\n'.join([caption.strip(), *rest]))
    return path


def write_mask(root: Path, relative: str, png: bytes) -> Path:
    """Store `png` as the image's mask: one grey channel (white = train), the image's size."""
    image = image_file(root, relative)
    if len(png) > MAX_MASK_BYTES:
        raise ToolError('the mask is too large')
    try:
        mask = Image.open(io.BytesIO(png))
        mask.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise ToolError('the mask is not a readable PNG image; nothing was saved') from None
    size = image_size(image)
    if mask.size != size:
        raise ToolError(f'the mask is {mask.size[0]}×{mask.size[1]} but the image is {size[0]}×{size[1]}; '
                        'nothing was saved')
    target = mask_path(image)
    save_atomic(mask.convert('L'), target, 'PNG')
    return target


def image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        raise ToolError(f'{path.name} is not a readable image') from None


def save_atomic(image: Image.Image, target: Path, image_format: str, **options) -> None:
    """Write to a temporary file beside `target`, then rename it over `target`."""
    fd, tmp = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.tmp', dir=target.parent)
    try:
        with os.fdopen(fd, 'wb') as handle:
            image.save(handle, image_format, **options)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def thumbnail(image: Path, cache: Path, size: int = THUMBNAIL_SIZE) -> Path:
    """A JPEG at most `size` pixels on its longer side, made once and kept in `cache` under a name
    derived from the image's path, modification time and length (an edited image gets a new one)."""
    stat = image.stat()
    key = hashlib.sha1(f'{image}\0{stat.st_mtime_ns}\0{stat.st_size}\0{size}'.encode()).hexdigest()
    target = cache / key[:2] / f'{key}.jpg'
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with Image.open(image) as source:
            source.draft('RGB', (size, size))  # JPEG decodes at a fraction of its size: much faster
            small = source.convert('RGB')
            small.thumbnail((size, size))
    except (UnidentifiedImageError, OSError):
        raise ToolError(f'{image.name} is not a readable image') from None
    save_atomic(small, target, 'JPEG', quality=82)
    return target


def filter_images(root: Path, images: Iterable[DatasetImage], text: str = '', missing: str = '') -> list[DatasetImage]:
    """The images whose caption contains `text` (case-insensitive) and, with `missing` 'caption'
    or 'mask', that lack that file."""
    needle = text.strip().lower()
    chosen = []
    for image in images:
        if missing == 'caption' and image.has_caption or missing == 'mask' and image.has_mask:
            continue
        if needle and (not image.has_caption or needle not in caption_text(root, image.relative).lower()):
            continue
        chosen.append(image)
    return chosen


@dataclass(frozen=True)
class CaptionChange:
    """One caption file a find-and-replace changes: the image (relative) and the file's new text."""
    relative: str
    path: Path
    text: str


def caption_changes(root: Path, images: Iterable[DatasetImage], find: str, replacement: str,
                    regex: bool = False, ignore_case: bool = False) -> list[CaptionChange]:
    """What replacing `find` by `replacement` in every line of the images' captions changes. Reads
    everything first: a bad pattern or an unreadable caption raises before any file is written."""
    if not find:
        raise ToolError('nothing to find: give the text to replace')
    try:
        pattern = re.compile(find if regex else re.escape(find),
                             re.MULTILINE | (re.IGNORECASE if ignore_case else 0))  # ^ and $ at each line
    except re.error as exc:
        raise ToolError(f'{find!r} is not a valid regular expression: {exc}') from None
    changes = []
    for image in images:
        if not image.has_caption:
            continue
        path = caption_path(root / image.relative)
        try:
            old = path.read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as exc:
            raise ToolError(f'cannot read the caption {path}: {exc}; nothing was changed') from None
        try:
            new = pattern.sub(replacement if regex else lambda _: replacement, old)
        except (re.error, IndexError) as exc:
            raise ToolError(f'the replacement {replacement!r} does not fit the pattern: {exc}') from None
        if new != old:
            changes.append(CaptionChange(image.relative, path, new))
    return changes


def apply_caption_changes(changes: Iterable[CaptionChange]) -> int:
    """Write each changed caption atomically; returns how many were written."""
    written = 0
    for change in changes:
        atomic_write_text(change.path, change.text)
        written += 1
    return written
