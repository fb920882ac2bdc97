"""Caption augmentations driven by a concept's `text` settings.

Order: tag dropout, capitalisation, tag shuffling. The first `keep_tags_count` tags are never
touched. Dropout and shuffling re-join tags with ``delimiter + " "``; capitalisation keeps the
caption's own spacing.
"""

import csv
import random
import re
from collections.abc import Callable
from pathlib import Path

from .rng import enum_name

Rng = Callable[[str], random.Random]
_REGEX_CHARS = frozenset(".^$*+?{}[]\\|()")


class CaptionAugmenter:
    """The text augmentations of one concept (special tags are read once)."""

    def __init__(self, settings):
        self.settings = settings
        self.is_special = special_tag_matcher(settings.tag_dropout_special_tags, settings.tag_delimiter,
                                              bool(settings.tag_dropout_special_tags_regex))

    def __call__(self, caption: str, rng: Rng) -> str:
        caption = drop_tags(caption, self.settings, rng("tag_dropout"), self.is_special)
        caption = randomize_caps(caption, self.settings, rng("caps"))
        return shuffle_tags(caption, self.settings, rng("tag_shuffle"))


def split_tags(caption: str, delimiter: str) -> list[str]:
    return [tag.strip() for tag in caption.split(delimiter) if tag.strip()] if delimiter else [caption]


def _join(tags: list[str], delimiter: str) -> str:
    return (delimiter + " ").join(tags)


def _keep(settings) -> int:
    return max(0, int(settings.keep_tags_count))


def shuffle_tags(caption: str, settings, rng: random.Random) -> str:
    if not settings.enable_tag_shuffling:
        return caption
    tags = split_tags(caption, settings.tag_delimiter)
    head, tail = tags[:_keep(settings)], tags[_keep(settings):]
    rng.shuffle(tail)
    return _join(head + tail, settings.tag_delimiter)


def drop_tags(caption: str, settings, rng: random.Random, is_special: Callable[[str], bool]) -> str:
    probability = float(settings.tag_dropout_probability)
    if not settings.tag_dropout_enable or probability <= 0:
        return caption
    delimiter = settings.tag_delimiter
    tags = split_tags(caption, delimiter)
    head, tail = tags[:_keep(settings)], tags[_keep(settings):]
    special_mode = enum_name(settings.tag_dropout_special_tags_mode).upper()

    def protected(tag: str) -> bool:
        if special_mode == "WHITELIST":
            return is_special(tag)
        if special_mode == "BLACKLIST":
            return not is_special(tag)
        return False

    mode = enum_name(settings.tag_dropout_mode).upper()
    if mode == "FULL":
        if rng.random() < probability:
            tail = [tag for tag in tail if protected(tag)]
    else:
        weighted = mode == "RANDOM WEIGHTED"
        count = len(tail)
        kept = []
        for i, tag in enumerate(tail):
            p = probability * (i + 1) / count if weighted else probability
            if protected(tag) or rng.random() > p:
                kept.append(tag)
        tail = kept
    return _join(head + tail, delimiter)


def special_tag_matcher(spec: str, delimiter: str, use_regex: bool) -> Callable[[str], bool]:
    patterns = _special_tags(spec, delimiter)
    exact = {p for p in patterns if not (use_regex and _REGEX_CHARS & set(p))}
    compiled = [re.compile(p) for p in patterns if p not in exact]

    def match(tag: str) -> bool:
        if tag in exact:
            return True
        candidates = (tag, tag.strip("()"))
        return any(rx.fullmatch(c) for rx in compiled for c in candidates)

    return match


def _special_tags(spec: str, delimiter: str) -> tuple[str, ...]:
    """A delimited list, or a .txt file (one tag per line) / .csv file (first column)."""
    spec = (spec or "").strip()
    path = Path(spec)
    if spec.lower().endswith(".txt") and path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return tuple(line.strip() for line in lines if line.strip())
    if spec.lower().endswith(".csv") and path.is_file():
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            return tuple(row[0].strip() for row in csv.reader(f) if row and row[0].strip())
    return tuple(split_tags(spec, delimiter)) if spec else ()


def randomize_caps(caption: str, settings, rng: random.Random) -> str:
    if settings.caps_randomize_lowercase:
        caption = caption.lower()
    probability = float(settings.caps_randomize_probability)
    if not settings.caps_randomize_enable or probability <= 0:
        return caption
    modes = [m.strip().lower() for m in str(settings.caps_randomize_mode).split(",") if m.strip()]
    if not modes:
        return caption
    delimiter = settings.tag_delimiter
    parts = caption.split(delimiter) if delimiter else [caption]
    keep = _keep(settings)
    seen = 0
    for i, part in enumerate(parts):
        if not part.strip():
            continue
        seen += 1
        if seen > keep and rng.random() < probability:
            parts[i] = _recase(part, rng.choice(modes), rng)
    return delimiter.join(parts) if delimiter else parts[0]


def _recase(tag: str, mode: str, rng: random.Random) -> str:
    lead = len(tag) - len(tag.lstrip())
    body = tag[lead:]
    if mode == "capslock":
        body = body.upper()
    elif mode == "title":
        body = body.title()
    elif mode == "first":
        body = body[:1].upper() + body[1:].lower()
    elif mode == "random":
        body = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in body)
    return tag[:lead] + body
