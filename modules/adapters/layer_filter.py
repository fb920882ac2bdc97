"""`layer_filter` semantics: comma-separated substrings (or regexes); empty = everything."""
from __future__ import annotations

import re
from collections.abc import Callable


def parse_layer_filter(text: str, regex: bool = False) -> Callable[[str], bool]:
    patterns = [p.strip() for p in (text or "").split(",")]
    patterns = [p for p in patterns if p]
    if not patterns:
        return lambda name: True
    if regex:
        compiled = [re.compile(p) for p in patterns]
        return lambda name: any(c.search(name) for c in compiled)
    return lambda name: any(p in name for p in patterns)


def preset_filter(presets: dict, name: str) -> tuple[str, bool]:
    """A UI preset name → (layer_filter text, regex flag)."""
    value = presets.get(name, [])
    if isinstance(value, dict):
        return ",".join(value.get("patterns", [])), bool(value.get("regex", False))
    return ",".join(value), False
