"""Statistics of a concept folder: file counts, pairing, resolutions, caption lengths, buckets.

Pure functions over the file system (no UI), so the numbers can be tested on a generated folder.
The folder is walked the way training scans it (hidden folders skipped, sub-folders only when the
concept includes them) and the aspect buckets are the ones training would use.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from modules.data.resolution import buckets_for, nearest_bucket, parse_resolution
from modules.data.scan import caption_candidates, is_training_image, read_lines

MASK_SUFFIX = '-masklabel.png'
BUCKET_QUANTUM = 64  # bucket sides are shown rounded like the coarsest model quantum


@dataclass
class Extreme:
    """One end of a min/avg/max row: the value and the file it came from."""

    value: float = 0.0
    detail: str = ''
    file: str = ''


@dataclass
class ConceptStats:
    directories: int = 0
    total_size_mb: float = 0.0
    images: int = 0
    masks: int = 0
    captions: int = 0
    images_with_masks: int = 0
    images_with_captions: int = 0
    unpaired_masks: int = 0
    unpaired_captions: int = 0
    min_pixels: Extreme = field(default_factory=Extreme)
    avg_pixels: Extreme = field(default_factory=Extreme)
    max_pixels: Extreme = field(default_factory=Extreme)
    min_caption: Extreme = field(default_factory=Extreme)
    avg_caption: Extreme = field(default_factory=Extreme)
    max_caption: Extreme = field(default_factory=Extreme)
    buckets: dict[str, int] = field(default_factory=dict)  # 'W×H' -> image count, wide to tall
    unreadable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ConceptStats:
        """Stats stored in a concept file (unknown or malformed entries fall back to empty)."""
        stats = cls()
        for name, value in data.items():
            current = getattr(stats, name, None)
            if isinstance(current, Extreme) and isinstance(value, dict):
                setattr(stats, name, Extreme(**{k: v for k, v in value.items() if k in ('value', 'detail', 'file')}))
            elif current is not None and type(current) is type(value):
                setattr(stats, name, value)
        return stats


def _walk_files(root: Path, recursive: bool) -> tuple[int, list[Path]]:
    """(number of folders, every file) below root, skipping hidden folders as training does."""
    if not recursive:
        return 1, sorted(p for p in root.iterdir() if p.is_file())
    folders, files = 0, []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        folders += 1
        files.extend(Path(dirpath) / name for name in names)
    return folders, sorted(files)


def bucket_labels(resolution: str, quantum: int = BUCKET_QUANTUM) -> list[tuple[int, int]]:
    """Every (h, w) bucket of the first resolution, ordered from widest to tallest."""
    spec = parse_resolution(resolution)
    if spec.fixed is not None:
        return [spec.fixed]
    return sorted(buckets_for(spec.areas[0], quantum), key=lambda b: b[0] / b[1])


def compute_stats(concept, resolution: str = '512', quantum: int = BUCKET_QUANTUM) -> ConceptStats:
    """Scan the concept folder; `resolution` is the training resolution (the concept's override wins)."""
    started = time.perf_counter()
    root = Path(concept.path)
    if not concept.path or not root.is_dir():
        raise FileNotFoundError(f'concept folder not found: {root}')
    if concept.image.enable_resolution_override:
        resolution = concept.image.resolution_override
    stats = ConceptStats()
    stats.directories, files = _walk_files(root, bool(concept.include_subdirectories))
    stats.total_size_mb = round(sum(p.stat().st_size for p in files) / 1e6, 3)
    images = [p for p in files if is_training_image(p)]
    masks = {p for p in files if p.name.endswith(MASK_SUFFIX)}
    texts = {p for p in files if p.suffix.lower() == '.txt'}
    source = str(concept.text.prompt_source)
    concept_lines = read_lines(Path(concept.text.prompt_path)) if source == 'concept' and concept.text.prompt_path else []

    buckets = bucket_labels(resolution, quantum)
    counts = {b: 0 for b in buckets}
    pixels: list[tuple[int, int, int, Path]] = []
    caption_lengths: list[tuple[int, Path]] = []
    paired_masks: set[Path] = set()
    paired_texts: set[Path] = set()
    for image in images:
        mask = image.with_name(image.stem + MASK_SUFFIX)
        if mask in masks:
            paired_masks.add(mask)
        text = image.with_suffix('.txt')
        if text in texts:
            paired_texts.add(text)
        captions = [c for c in caption_candidates(image, source, concept_lines) if c]
        if captions:
            stats.images_with_captions += 1
            caption_lengths.extend((len(c), image) for c in captions)
        try:
            with Image.open(image) as img:
                width, height = img.size
        except OSError:
            stats.unreadable.append(str(image.relative_to(root)))
            continue
        pixels.append((width * height, width, height, image))
        counts[nearest_bucket(height, width, tuple(buckets))] += 1

    stats.images = len(images)
    stats.masks = len(masks)
    stats.captions = len(texts)
    stats.images_with_masks = len(paired_masks)
    stats.unpaired_masks = len(masks - paired_masks)
    stats.unpaired_captions = len(texts - paired_texts) if source == 'sample' else 0
    if pixels:
        low, high = min(pixels, key=lambda p: p[0]), max(pixels, key=lambda p: p[0])
        stats.min_pixels = Extreme(round(low[0] / 1e6, 3), f'{low[1]}×{low[2]}', str(low[3].relative_to(root)))
        stats.max_pixels = Extreme(round(high[0] / 1e6, 3), f'{high[1]}×{high[2]}', str(high[3].relative_to(root)))
        stats.avg_pixels = Extreme(round(sum(p[0] for p in pixels) / len(pixels) / 1e6, 3))
    if caption_lengths:
        low_c, high_c = min(caption_lengths, key=lambda c: c[0]), max(caption_lengths, key=lambda c: c[0])
        stats.min_caption = Extreme(low_c[0], 'characters', str(low_c[1].relative_to(root)))
        stats.max_caption = Extreme(high_c[0], 'characters', str(high_c[1].relative_to(root)))
        stats.avg_caption = Extreme(round(sum(c[0] for c in caption_lengths) / len(caption_lengths), 1), 'characters')
    stats.buckets = {f'{w}×{h}': counts[(h, w)] for h, w in buckets}
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def bucket_figure(stats: ConceptStats) -> dict:
    """A Plotly bar chart (dict form, so plotly itself is never imported) of the bucket counts."""
    labels = list(stats.buckets)
    values = [stats.buckets[k] for k in labels]
    return {
        'data': [{'type': 'bar', 'x': labels, 'y': values, 'text': values, 'textposition': 'auto'}],
        'layout': {'margin': {'l': 40, 'r': 10, 't': 30, 'b': 60}, 'height': 260,
                   'title': {'text': 'Aspect buckets (wide → tall)', 'font': {'size': 13}},
                   'xaxis': {'type': 'category'}, 'yaxis': {'title': {'text': 'images'}}},
    }


def smallest_buckets(stats: ConceptStats, count: int = 2) -> list[tuple[str, int]]:
    """The least filled non-empty buckets (a bucket smaller than the batch size drops images)."""
    filled = [(k, v) for k, v in stats.buckets.items() if v > 0]
    return sorted(filled, key=lambda kv: kv[1])[:count]
