"""The concept and sample list files: listing, naming, loading and atomic saving, and the one
store of each list that every browser of a session shares.

Both lists live in JSON files below the data folder (`training_concepts/*.json`,
`training_samples/*.json`); the config names the current one relative to that folder.
"""
from __future__ import annotations

import logging
import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.config.base import BaseConfig, ConfigError
from modules.config.files import load_concepts, load_samples, save_concepts, save_samples
from modules.config.presets import check_name, contained_path

if TYPE_CHECKING:
    from .config_session import ConfigSession

CONCEPTS_FOLDER = 'training_concepts'
SAMPLES_FOLDER = 'training_samples'
MAX_NAME = 32
_NAME_CHARS = re.compile(r'[^A-Za-z0-9 ._#-]')


def resolve(data_dir: str | os.PathLike, file_name: str) -> Path:
    """A list file named in the config: relative names are below the data folder."""
    path = Path(file_name)
    return path if path.is_absolute() else Path(data_dir) / path


def list_files(data_dir: str | os.PathLike, folder: str) -> list[str]:
    """Every list file of a folder, as config-style relative names, sorted by name."""
    root = Path(data_dir) / folder
    if not root.is_dir():
        return []
    return sorted((f'{folder}/{p.name}' for p in root.glob('*.json') if p.is_file()), key=str.lower)


def clean_name(text: str) -> str:
    """A user-typed list name made safe as a file name (letters, digits, space . _ - #)."""
    name = _NAME_CHARS.sub('', text or '').strip()[:MAX_NAME].strip()
    if name.lower().endswith('.json'):
        name = name[:-5].strip()
    return check_name(name, 'list name')


def new_file_name(data_dir: str | os.PathLike, folder: str, text: str) -> str:
    """The relative name of a new list file called `text` (refuses names outside the folder)."""
    name = clean_name(text)
    contained_path(Path(data_dir) / folder, f'{name}.json')
    return f'{folder}/{name}.json'


def label(file_name: str) -> str:
    return Path(file_name).stem


def read_concepts(data_dir, file_name: str) -> list:
    """The concepts of a file; a missing file is created empty (as a fresh install expects)."""
    path = resolve(data_dir, file_name)
    if not path.exists():
        save_concepts(path, [])
        return []
    return load_concepts(path)


def write_concepts(data_dir, file_name: str, concepts: list) -> None:
    save_concepts(resolve(data_dir, file_name), concepts)


def read_samples(data_dir, file_name: str, model_type) -> list:
    path = resolve(data_dir, file_name)
    if not path.exists():
        save_samples(path, [])
        return []
    return load_samples(path, model_type)


def write_samples(data_dir, file_name: str, samples: list) -> None:
    save_samples(resolve(data_dir, file_name), samples)


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListKind:
    """What differs between the concept list and the sample list."""

    folder: str
    file_field: str  # TrainConfig field naming the current file
    read: Callable[[ConfigSession, str], list]  # (session, file name) -> items
    write: Callable[[ConfigSession, str, list], None]  # (session, file name, items)
    new_item: Callable[[ConfigSession], BaseConfig]  # session -> a fresh item
    clone: Callable[[BaseConfig], BaseConfig]  # an item -> its copy


class ListStore:
    """The items of the list file the config names, shared by every browser of a session.

    Every edit (a structural one, or a field of an item or of its nested configs) writes the whole
    file at once, atomically; views are told about structural edits so every browser shows the
    same list. When the config names another file (a preset was loaded) the store reloads.
    """

    def __init__(self, session: ConfigSession, kind: ListKind):
        self.session = session
        self.kind = kind
        self.items: list[BaseConfig] = []
        self.file_name: str | None = None
        self.error: str | None = None
        self._views: list[tuple[Callable[[], None], Any]] = []
        session.config.subscribe(self._on_config_set)
        self.reload()

    # ---- files ----------------------------------------------------------------------------------
    @property
    def current_file(self) -> str:
        return getattr(self.session.config, self.kind.file_field)

    def files(self) -> list[str]:
        """Every list file of the folder, plus the current one wherever it lives."""
        names = list_files(self.session.data_dir, self.kind.folder)
        if self.current_file not in names:
            names.append(self.current_file)
        return names

    def reload(self) -> None:
        for item in self.items:
            self._unwatch(item)
        self.file_name = self.current_file
        try:
            self.items = self.kind.read(self.session, self.file_name)
            self.error = None
        except ConfigError as exc:
            self.items, self.error = [], str(exc)
        for item in self.items:
            self._watch(item)
        self._changed()

    def select(self, file_name: str) -> None:
        setattr(self.session.config, self.kind.file_field, file_name)  # the observer reloads

    def create(self, text: str) -> str:
        """A new empty list file named by the user; it becomes the current one."""
        file_name = new_file_name(self.session.data_dir, self.kind.folder, text)
        if resolve(self.session.data_dir, file_name).exists():
            raise ConfigError(file_name, 'a list with this name exists already')
        self.kind.write(self.session, file_name, [])
        self.select(file_name)
        return file_name

    def save(self) -> None:
        if self.error is not None:
            return  # never overwrite a file that could not be read
        try:
            self.kind.write(self.session, self.file_name, self.items)
        except OSError as exc:
            log.warning('could not save %s: %s', self.file_name, exc)
            self.error = f'{self.file_name}: {exc.strerror or exc}'
            self._changed()

    # ---- edits ----------------------------------------------------------------------------------
    def add(self) -> BaseConfig:
        item = self.kind.new_item(self.session)
        self._insert(len(self.items), item)
        return item

    def duplicate(self, item: BaseConfig) -> BaseConfig:
        clone = self.kind.clone(item)
        self._insert(self.items.index(item) + 1, clone)
        return clone

    def remove(self, item: BaseConfig) -> None:
        self.items.remove(item)
        self._unwatch(item)
        self.save()
        self._changed()

    def move(self, item: BaseConfig, delta: int) -> None:
        index = self.items.index(item)
        target = min(max(index + delta, 0), len(self.items) - 1)
        if target != index:
            self.items.insert(target, self.items.pop(index))
            self.save()
            self._changed()

    def set_enabled(self, items: list[BaseConfig], value: bool) -> None:
        for item in items:
            item.enabled = value  # each assignment saves through the item observer

    def _insert(self, index: int, item: BaseConfig) -> None:
        self.items.insert(index, item)
        self._watch(item)
        self.save()
        self._changed()

    # ---- observers --------------------------------------------------------------------------------
    def _on_config_set(self, _owner: Any, name: str, value: Any) -> None:
        if name == self.kind.file_field and value != self.file_name:
            self.reload()

    def _on_item_set(self, _owner: Any, _name: str, _value: Any) -> None:
        self.save()

    def _watch(self, item: BaseConfig) -> None:
        for config in _config_tree(item):
            config.subscribe(self._on_item_set)

    def _unwatch(self, item: BaseConfig) -> None:
        for config in _config_tree(item):
            config.unsubscribe(self._on_item_set)

    def add_view(self, refresh: Callable[[], None], element: Any) -> None:
        """`refresh()` runs after structural edits while `element` exists."""
        self._views.append((refresh, element))

    def _changed(self) -> None:
        alive = [(refresh, element) for refresh, element in self._views if not element.is_deleted]
        self._views = alive
        for refresh, _ in alive:
            refresh()


def _config_tree(config: BaseConfig) -> list[BaseConfig]:
    found = [config]
    for f in config.FIELDS:
        if f.kind == 'config':
            found.extend(_config_tree(getattr(config, f.name)))
    return found


_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def store_for(session: ConfigSession, kind: ListKind) -> ListStore:
    """The one store of this list kind for the session (created on first use)."""
    stores = _STORES.setdefault(session, {})
    if kind.folder not in stores:
        stores[kind.folder] = ListStore(session, kind)
    return stores[kind.folder]
