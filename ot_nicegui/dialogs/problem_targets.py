"""Where a problem of the config is, in the user's words and on the page: a problem names a dotted
config path (`learning_rate`, `concepts[0].path`); the Start dialog shows the setting's label, the
concept's name or the embedding's number instead, and takes the user to the field."""
from __future__ import annotations

import re
from dataclasses import dataclass

from modules.config.base import BaseConfig
from modules.config.concept_config import ConceptConfig
from modules.config.train_config import TrainConfig, TrainEmbeddingConfig
from ot_nicegui.schemas.search import Entry

_ITEM = re.compile(r'^(?P<list>\w+)\[(?P<index>\d+)\](?:\.(?P<rest>.+))?$')
# settings chosen with a list-file picker rather than a field: (tab, marker of the picker)
_LIST_FILES = {'concept_file_name': ('concepts', 'concept-file'),
               'sample_definition_file_name': ('sampling', 'sample-file')}


@dataclass(frozen=True)
class Target:
    title: str  # what the user calls the setting
    entry: Entry | None  # the tab, dialog and element to go to (None: nowhere to go)
    concept: int | None = None  # the concept (its index in the concept list) whose dialog holds the field


def _label(config_class: type[BaseConfig], path: str) -> str:
    """The labels along `path`, "Text encoder: Include"; as far as the path names fields."""
    labels, owner_class = [], config_class
    for name in path.split('.'):
        try:
            f = owner_class.get_field(name)
        except (KeyError, AttributeError):
            break
        labels.append(f.display_label)
        if f.kind != 'config':
            break
        owner_class = f.type
    return ': '.join(labels) or path


def _place(tab: str, path: str, label: str, focus: str = '', dialog: str = '') -> Entry:
    return Entry(tab, '', path, label, '', (path,), dialog, focus)


def target_of(path: str, config: TrainConfig, concepts: list[ConceptConfig], entries: list[Entry]) -> Target:
    """The title and place of the setting at `path`; `entries` is the settings search's index."""
    if path == 'concepts':
        return Target('Concepts', _place('concepts', path, 'Concepts'))
    if path in _LIST_FILES:
        tab, focus = _LIST_FILES[path]
        title = _label(TrainConfig, path)
        return Target(title, _place(tab, path, title, focus))
    item = _ITEM.match(path)
    if item is not None:
        kind, index, rest = item['list'], int(item['index']), item['rest'] or ''
        if kind == 'concepts':
            from ot_nicegui.state.concept_list import display_name

            name = display_name(concepts[index]) if index < len(concepts) else f'{index + 1}'
            field = _label(ConceptConfig, rest) if rest else ''
            title = f'Concept "{name}"' + (f': {field}' if field else '')
            focus = f'concept-{rest.rsplit(".", 1)[-1]}' if rest else ''
            return Target(title, _place('concepts', path, title, focus), index if index < len(concepts) else None)
        if kind == 'additional_embeddings':
            field = _label(TrainEmbeddingConfig, rest) if rest else ''
            title = f'Additional embedding {index + 1}' + (f': {field}' if field else '')
            return Target(title, _place('additional_embeddings', path, title, path))
        if kind == 'scheduler_params':
            title = f'Learning rate scheduler: parameter {index + 1}'
            return Target(title, _place('training', path, title, f'scheduler-key-{index}', 'scheduler'))
    for entry in entries:
        if path in entry.paths:
            return Target(entry.label, entry)
    return Target(_label(TrainConfig, path), None)
