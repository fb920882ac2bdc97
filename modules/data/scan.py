"""Concept folders -> training items (image and, for video models, video files with their caption candidates)."""

import os
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".avif"})
VIDEO_EXTENSIONS = frozenset({".webm", ".mkv", ".flv", ".avi", ".mov", ".wmv", ".mp4", ".mpeg", ".m4v"})
SIDE_FILE_SUFFIXES = ("-masklabel", "-condlabel")


@dataclass
class Item:
    path: Path
    index: int  # position in its concept's sorted file list
    captions: list[str] = field(default_factory=list)  # non-empty candidates, or [""]
    mask_path: Path | None = None
    conditioning_path: Path | None = None  # <stem>-condlabel.png: a custom inpainting conditioning image
    size: tuple[int, int] | None = None  # (h, w) once probed
    video: object | None = None  # the probed VideoInfo of a video file

    @property
    def stem_path(self) -> Path:
        return self.path.with_suffix("")

    @property
    def is_video(self) -> bool:
        return is_video(self.path)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_training_image(path: Path, videos: bool = False) -> bool:
    """A training file: an image, or with `videos` (video models) also a video; never a side file."""
    suffix = path.suffix.lower()
    known = suffix in IMAGE_EXTENSIONS or (videos and suffix in VIDEO_EXTENSIONS)
    return known and not path.stem.endswith(SIDE_FILE_SUFFIXES)


def list_images(root: Path, recursive: bool, videos: bool = False) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"concept folder not found: {root}")
    if recursive:
        files = [Path(dirpath) / name for dirpath, names in _walk(root) for name in names]
    else:
        files = [p for p in root.iterdir() if p.is_file()]
    return sorted((p for p in files if is_training_image(p, videos)), key=lambda p: str(p))


def _walk(root: Path):
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # hidden folders are skipped
        yield dirpath, names


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file; [] when it does not exist."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def caption_candidates(image: Path, prompt_source: str, concept_lines: list[str]) -> list[str]:
    if prompt_source == "filename":
        candidates = [image.stem]
    elif prompt_source == "concept":
        candidates = concept_lines
    else:  # "sample", and the fallback for unknown values
        candidates = read_lines(image.with_suffix(".txt"))
    return list(candidates) or [""]


def side_file(image: Path, suffix: str, wanted: bool) -> Path | None:
    """`<stem><suffix>.png` next to the image when it is wanted and exists."""
    path = image.with_name(image.stem + suffix + ".png")
    return path if wanted and path.is_file() else None


def scan_concept(concept, *, with_masks: bool, videos: bool = False, with_conditioning: bool = False,
                 root: Path | None = None) -> list[Item]:
    """The concept's training files in sorted order. `root` is the folder to scan when the
    concept's path is not one itself (a dataset repository resolved to its local snapshot)."""
    text = concept.text
    source = str(text.prompt_source)
    concept_lines = read_lines(Path(text.prompt_path)) if source == "concept" and text.prompt_path else []
    folder = Path(concept.path) if root is None else Path(root)
    items = []
    for index, image in enumerate(list_images(folder, bool(concept.include_subdirectories), videos)):
        items.append(Item(
            path=image,
            index=index,
            captions=caption_candidates(image, source, concept_lines),
            mask_path=side_file(image, "-masklabel", with_masks),
            conditioning_path=side_file(image, "-condlabel", with_conditioning),
        ))
    return items
