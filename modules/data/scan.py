"""Concept folders -> training items (image files with their caption candidates)."""

import os
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".avif"})
SIDE_FILE_SUFFIXES = ("-masklabel", "-condlabel")


@dataclass
class Item:
    path: Path
    index: int  # position in its concept's sorted file list
    captions: list[str] = field(default_factory=list)  # non-empty candidates, or [""]
    mask_path: Path | None = None

    @property
    def stem_path(self) -> Path:
        return self.path.with_suffix("")


def is_training_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.stem.endswith(SIDE_FILE_SUFFIXES)


def list_images(root: Path, recursive: bool) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"concept folder not found: {root}")
    if recursive:
        files = [Path(dirpath) / name for dirpath, names in _walk(root) for name in names]
    else:
        files = [p for p in root.iterdir() if p.is_file()]
    return sorted((p for p in files if is_training_image(p)), key=lambda p: str(p))


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


def scan_concept(concept, *, with_masks: bool) -> list[Item]:
    text = concept.text
    source = str(text.prompt_source)
    concept_lines = read_lines(Path(text.prompt_path)) if source == "concept" and text.prompt_path else []
    items = []
    for index, image in enumerate(list_images(Path(concept.path), bool(concept.include_subdirectories))):
        mask = image.with_name(image.stem + "-masklabel.png") if with_masks else None
        items.append(Item(
            path=image,
            index=index,
            captions=caption_candidates(image, source, concept_lines),
            mask_path=mask if mask is not None and mask.is_file() else None,
        ))
    return items
