"""Settings search: every field of the visible tabs with its label, path and tooltip."""
from __future__ import annotations

from dataclasses import dataclass

from modules.config.train_config import TrainConfig
from ot_nicegui.schemas.tabs import schema_for


@dataclass(frozen=True)
class Entry:
    tab: str  # tab key
    section: str
    path: str  # the field to jump to (for compound widgets, their first field)
    label: str
    tooltip: str
    paths: tuple[str, ...]  # every path the entry edits

    def haystack(self) -> str:
        return ' '.join((self.label, self.section, *self.paths, self.tooltip)).lower()


def build_index(config: TrainConfig, tabs: list[str]) -> list[Entry]:
    entries = []
    for tab in tabs:
        schema = schema_for(tab, config)
        if schema is None:
            continue
        for column in schema['columns']:
            for sec in column:
                for fdef in sec.fields:
                    first = fdef.paths[0]
                    _owner, f = config.resolve(first)
                    label = fdef.label or f.display_label
                    entries.append(Entry(tab, sec.title, first, label, f.tooltip, fdef.paths))
    return entries


def search(entries: list[Entry], query: str, limit: int = 20) -> list[Entry]:
    """Entries containing every word of `query`; label matches first, then path, then tooltip."""
    words = query.lower().split()
    if not words:
        return []

    phrase = ' '.join(words)

    def rank(entry: Entry) -> tuple[int, int]:
        label = entry.label.lower()
        if label == phrase:
            tier = 0
        elif all(w in label for w in words):
            tier = 1
        elif all(any(w in p for p in entry.paths) for w in words):
            tier = 2
        else:
            tier = 3
        return tier, len(label)  # among equals, the shortest (most specific) label first

    hits = [e for e in entries if all(w in e.haystack() for w in words)]
    hits.sort(key=rank)
    return hits[:limit]
