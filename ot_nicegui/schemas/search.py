"""Settings search: every setting of the visible tabs with its label, path and tooltip — the tabs'
schema fields, the fields outside a schema (the model type and method above the tabs, the
Sampling tab's fields) and the settings that live in a tab's dialogs (the chosen optimizer's
parameters, the custom learning-rate scheduler), which open their dialog when picked."""
from __future__ import annotations

from dataclasses import dataclass

from modules.config.train_config import TrainConfig
from ot_nicegui.schemas.tabs import schema_for

TOP_BAR = ('model_type', 'training_method')  # above the tabs: jumping there switches no tab
SAMPLING_TAB = ('sample_after', 'sample_after_unit', 'sample_skip_first', 'sample_image_format',
                'sample_video_format', 'sample_audio_format', 'non_ema_sampling', 'samples_to_tensorboard')
# settings only a dialog of the Training tab edits: (path, dialog, marker of its widget)
SCHEDULER_DIALOG = (('custom_learning_rate_scheduler', 'scheduler-class'), ('scheduler_params', 'scheduler-params'))


@dataclass(frozen=True)
class Entry:
    tab: str  # tab key
    section: str
    path: str  # the field to jump to (for compound widgets, their first field)
    label: str
    tooltip: str
    paths: tuple[str, ...]  # every path the entry edits
    dialog: str = ''  # the dialog that holds the field ('' when the tab itself does)
    focus: str = ''  # the marker of the element to focus, when it is not `path`

    @property
    def marker(self) -> str:
        return self.focus or self.path

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
    entries += _outside_schemas(config, tabs)
    return entries


def _entry(config: TrainConfig, tab: str, section: str, path: str, dialog: str = '', focus: str = '',
           label: str = '') -> Entry:
    _owner, f = config.resolve(path)
    return Entry(tab, section, path, label or f.display_label, f.tooltip, (path,), dialog, focus)


def _outside_schemas(config: TrainConfig, tabs: list[str]) -> list[Entry]:
    from ot_nicegui.dialogs.optimizer import AUX_SWITCH, parameter_names

    entries = [_entry(config, '', 'Model type and method', path) for path in TOP_BAR]
    if 'sampling' in tabs:
        entries += [_entry(config, 'sampling', 'Sampling', path) for path in SAMPLING_TAB]
    if 'additional_embeddings' in tabs:
        entries.append(_entry(config, 'additional_embeddings', 'Additional embeddings', 'additional_embeddings'))
    if 'training' in tabs:
        entries += [_entry(config, 'training', 'Learning rate scheduler', path, 'scheduler', marker)
                    for path, marker in SCHEDULER_DIALOG]
        entries += [_entry(config, 'training', 'Optimizer settings', f'optimizer.{name}', 'optimizer',
                           f'optimizer-{name}', 'Muon with auxiliary Adam' if name == AUX_SWITCH else '')
                    for name in parameter_names(config.optimizer.optimizer)]
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
