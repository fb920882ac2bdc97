"""The one live TrainConfig shared by every browser, and what happens around it.

Loading a preset or a file never replaces the live config object: the loaded values are copied
into it field by field, so every widget stays bound and every client sees the change. The session
tracks which preset the values came from (for "unsaved changes" and "changed since preset"),
saves the last-session state a moment after the last edit, and keeps secrets in `secrets.json`.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.config.base import BaseConfig, ConfigError, LoadWarning
from modules.config.enums import Optimizer
from modules.config.files import load_concepts, load_samples, load_secrets, save_concepts, save_secrets
from modules.config.presets import USER_GROUP, PresetInfo, PresetStore, check_name, load_config_file
from modules.config.train_config import TrainConfig

log = logging.getLogger(__name__)

AUTOSAVE_DELAY = 1.0  # seconds of quiet before the last-session state is written


@dataclass(frozen=True)
class Change:
    """A field that differs from the loaded preset."""

    path: str
    value: Any
    preset_value: Any


def assign_in_place(target: BaseConfig, source: BaseConfig) -> None:
    """Copy every field of `source` into `target`, keeping nested config objects (and their
    subscribers) alive; only fields whose value differs are assigned (and notified)."""
    for f in target.FIELDS:
        new = getattr(source, f.name)
        if f.kind == 'config':
            assign_in_place(getattr(target, f.name), new)
            continue
        old = getattr(target, f.name)
        if type(old) is type(new) and old == new:
            continue
        setattr(target, f.name, copy.deepcopy(new))


def _scalar_paths(config: BaseConfig) -> dict[str, Any]:
    return {path: getattr(owner, f.name) for path, owner, f in config.iter_fields()
            if f.kind in ('scalar', 'enum')}


class ConfigSession:
    """Process-wide config state: the live config, presets, dirty flag, autosave, secrets."""

    # fields whose difference from the preset is not a user "change" worth listing
    UNLISTED_PREFIXES = ('secrets.', 'optimizer_defaults', 'embedding.uuid')

    def __init__(self, data_dir: str | Path = '.', builtin_presets: str | Path | None = None,
                 autosave_delay: float = AUTOSAVE_DELAY):
        self.data_dir = Path(data_dir)
        presets_dir = self.data_dir / 'training_presets'
        self.builtin_store = PresetStore(builtin_presets if builtin_presets is not None else presets_dir)
        self.user_store = PresetStore(presets_dir / 'user')
        self.session_store = PresetStore(presets_dir)  # holds the last-session file `#.json`
        self.secrets_path = self.data_dir / 'secrets.json'
        self.autosave_delay = autosave_delay

        self.config = TrainConfig.default_values()
        self.preset_name: str | None = None
        self.baseline = self.config.copy()
        self.warnings: list[LoadWarning] = []
        self._listeners: list[Callable[[], None]] = []
        self._watched: dict[int, BaseConfig] = {}
        self._secrets_changed = False
        self._save_handle: asyncio.TimerHandle | threading.Timer | None = None
        self._changes: list[Change] | None = None  # cached differences from the preset
        self._applying = False

        self.config.secrets = load_secrets(self.secrets_path)
        self.config.change_optimizer(self.config.optimizer.optimizer)
        self.enforce_consistency()
        self._watch_tree(self.config, '')
        self.baseline = self.config.copy()

    # ---- listeners (the UI's top bar, the "changed" view) ---------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after every config change and after loads/saves."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # one broken view must not stop the others
                log.exception('config session listener failed')

    # ---- observing the whole config tree ---------------------------------------------------------
    def _watch_tree(self, config: BaseConfig, path: str) -> None:
        if id(config) not in self._watched:
            self._watched[id(config)] = config
            config.subscribe(self._on_field_set)
        object.__setattr__(config, '_session_path', path)
        for f in config.FIELDS:
            value = getattr(config, f.name)
            child_path = f'{path}.{f.name}' if path else f.name
            if f.kind == 'config':
                self._watch_tree(value, child_path)
            elif f.kind == 'config_list' and value:
                for i, item in enumerate(value):
                    self._watch_tree(item, f'{child_path}[{i}]')
            elif f.kind == 'config_dict':
                for key, item in value.items():
                    self._watch_tree(item, f'{child_path}.{key}')

    def _rewatch(self) -> None:
        for config in self._watched.values():
            config.unsubscribe(self._on_field_set)
        self._watched.clear()
        self._watch_tree(self.config, '')

    def _on_field_set(self, owner: BaseConfig, name: str, value: Any) -> None:
        path = getattr(owner, '_session_path', '')
        if isinstance(value, (BaseConfig, list, dict)):
            self._rewatch()  # a nested config or list was replaced: watch the new objects
        if path == 'secrets' or path.startswith('secrets.'):
            self._secrets_changed = True
        if owner is self.config and name in ('model_type', 'training_method'):
            self.enforce_consistency()
        self._changes = None
        if not self._applying:
            self._schedule_save()
            self._notify()

    # ---- consistency rules the UI relies on -------------------------------------------------------
    def enforce_consistency(self) -> None:
        """Keep the training method and output format valid for the model type."""
        cfg = self.config
        methods = cfg.model_type.supported_training_methods()
        if methods and cfg.training_method not in methods:
            cfg.training_method = methods[0]
        formats = cfg.supported_output_formats()
        if formats and cfg.output_model_format not in formats:
            cfg.output_model_format = formats[0]

    # ---- dirty state and differences from the preset --------------------------------------------
    @property
    def dirty(self) -> bool:
        """Whether the config differs from the last loaded or saved preset."""
        return bool(self.changes())

    def changes(self) -> list[Change]:
        """Fields (scalar and enum) whose value differs from the loaded preset."""
        if self._changes is None:
            self._changes = self._compare()
        return list(self._changes)

    def _compare(self) -> list[Change]:
        now = _scalar_paths(self.config)
        before = _scalar_paths(self.baseline)
        found = []
        for path, value in now.items():
            if path.startswith(self.UNLISTED_PREFIXES):
                continue
            old = before.get(path)
            if not (type(old) is type(value) and old == value):
                found.append(Change(path, value, old))
        return found

    def revert(self, path: str) -> None:
        """Set one field back to its value in the loaded preset."""
        owner, f = self.config.resolve(path)
        setattr(owner, f.name, copy.deepcopy(self.baseline.get_path(path)))

    # ---- presets ---------------------------------------------------------------------------------
    def presets(self) -> dict[str, list[PresetInfo]]:
        """Built-in presets by folder, then the user's presets under USER_GROUP."""
        groups: dict[str, list[PresetInfo]] = {}
        for info in self.builtin_store.list():
            if info.builtin:
                groups.setdefault(info.group if info.group != USER_GROUP else 'Built-in', []).append(info)
        user = [info for info in self.user_store.list() if not info.builtin]
        if user:
            groups[USER_GROUP] = user
        return groups

    def find_preset(self, name: str) -> PresetInfo:
        for store in (self.user_store, self.builtin_store):
            try:
                info = store.find(name)
            except ConfigError:
                continue
            if store is self.user_store or info.builtin:
                return info
        raise ConfigError(name, 'no such preset')

    def load_preset(self, name: str) -> list[LoadWarning]:
        """Load a preset (built-in or user) into the live config."""
        info = self.find_preset(name)
        warnings: list[LoadWarning] = []
        store = self.builtin_store if info.builtin else self.user_store
        loaded = store.load(info, warnings=warnings)
        self._apply(loaded, info.name, warnings)
        return warnings

    def save_preset(self, name: str | None = None, overwrite: bool = True) -> PresetInfo:
        """Save the live config as a user preset (default: the current preset's name)."""
        name = name if name is not None else self.preset_name
        if name is None:
            raise ConfigError('preset name', 'choose a name for the new preset')
        if name.startswith('#'):
            raise ConfigError(name, 'built-in presets are read-only; use "save as" to make your own copy')
        info = self.user_store.save(name, self.config, overwrite=overwrite)
        self._set_baseline(info.name)
        return info

    def rename_preset(self, old: str, new: str) -> PresetInfo:
        self._refuse_builtin(old)
        info = self.user_store.rename(old, new)
        if self.preset_name == old:
            self.preset_name = info.name
        self._notify()
        return info

    def delete_preset(self, name: str) -> None:
        self._refuse_builtin(name)
        self.user_store.delete(name)
        if self.preset_name == name:
            self.preset_name = None
        self._notify()

    @staticmethod
    def _refuse_builtin(name: str) -> None:
        if name.startswith('#'):
            raise ConfigError(name, 'built-in presets are read-only; use "save as" to make your own copy')

    # ---- files -------------------------------------------------------------------------------------
    def import_config(self, path: str | Path, name: str | None = None) -> list[LoadWarning]:
        """Load any OneTrainer config file (saved config, exported pack, preset).

        Inline concept and sample lists of a packed config are written to their own files under
        the data folder (an existing file is never overwritten), as the UI edits lists in files.
        """
        path = Path(path)
        warnings: list[LoadWarning] = []
        loaded = load_config_file(path, preset=path.name.startswith('#'), warnings=warnings)
        stem = check_name(name or path.stem, 'file name').lstrip('#') or 'imported'
        if loaded.concepts is not None:
            target = self._free_path('training_concepts', stem)
            save_concepts(target, loaded.concepts)
            loaded.concept_file_name = target.relative_to(self.data_dir).as_posix()
        if loaded.samples is not None:
            from modules.config.files import save_samples

            target = self._free_path('training_samples', stem)
            save_samples(target, loaded.samples)
            loaded.sample_definition_file_name = target.relative_to(self.data_dir).as_posix()
        self._apply(loaded, None, warnings)
        return warnings

    def _free_path(self, folder: str, stem: str) -> Path:
        base = self.data_dir / folder
        candidate = base / f'{stem}.json'
        counter = 2
        while candidate.exists():
            candidate = base / f'{stem}-{counter}.json'
            counter += 1
        return candidate

    def export_pack(self) -> dict:
        """A self-contained config: concepts and samples inlined, secrets removed.

        A concept or sample file that does not exist yet counts as an empty list.
        """
        clone = self.config.copy()
        if clone.concepts is None and not self._data_path(clone.concept_file_name).exists():
            clone.concepts = []
        if clone.samples is None and not self._data_path(clone.sample_definition_file_name).exists():
            clone.samples = []
        return clone.to_pack_dict(secrets=False, base_dir=self.data_dir)

    def _data_path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.data_dir / path

    def concepts(self) -> list:
        """The concepts the config refers to (inline list, else its file; missing file = none)."""
        if self.config.concepts is not None:
            return self.config.concepts
        path = self._data_path(self.config.concept_file_name)
        return load_concepts(path) if path.exists() else []

    def samples(self) -> list:
        if self.config.samples is not None:
            return self.config.samples
        path = self._data_path(self.config.sample_definition_file_name)
        return load_samples(path, self.config.model_type) if path.exists() else []

    # ---- optimizer ------------------------------------------------------------------------------
    def change_optimizer(self, optimizer: Optimizer) -> None:
        """Select an optimizer: its defaults overlaid with the user's remembered values, written
        into the live optimizer object (so widgets bound to it stay bound). The parameters of the
        optimizer being left are remembered first, so switching back restores them."""
        if optimizer != self.config.optimizer.optimizer:
            self.config.remember_optimizer()
        self.config.change_optimizer(optimizer)
        self._changes = None
        self._schedule_save()
        self._notify()

    def load_optimizer_defaults(self) -> None:
        self.config.load_optimizer_defaults()

    # ---- applying a loaded config ------------------------------------------------------------------
    def _apply(self, loaded: TrainConfig, preset_name: str | None, warnings: list[LoadWarning]) -> None:
        # as OneTrainer: lists live in their own files, secrets in secrets.json, optimizer defaults re-applied
        loaded.concepts = None
        loaded.samples = None
        loaded.secrets = load_secrets(self.secrets_path)
        loaded.change_optimizer(loaded.optimizer.optimizer)
        self._applying = True
        try:
            assign_in_place(self.config, loaded)
            self.enforce_consistency()
        finally:
            self._applying = False
        self._secrets_changed = False
        self.warnings = warnings
        self._set_baseline(preset_name)
        self._schedule_save()

    def _set_baseline(self, preset_name: str | None) -> None:
        self.preset_name = preset_name
        self.baseline = self.config.copy()
        self._changes = []
        self._notify()

    # ---- last session and secrets, saved a moment after the last edit --------------------------------
    def restore_last_session(self) -> bool:
        """Load `#.json` if there is one; True when it was loaded."""
        warnings: list[LoadWarning] = []
        try:
            loaded = self.session_store.load_last_session(warnings=warnings)
        except ConfigError as exc:
            log.warning('could not restore the last session: %s', exc)
            return False
        if loaded is None:
            return False
        state = self._read_session_meta()
        self._apply(loaded, None, warnings)
        # the preset the session started from stays the reference for "changed since preset"
        name = state.get('preset')
        if name:
            try:
                info = self.find_preset(name)
                store = self.builtin_store if info.builtin else self.user_store
                self.baseline = store.load(info)
                self.baseline.secrets = self.config.secrets.copy()
                self.baseline.change_optimizer(self.baseline.optimizer.optimizer)
                self.preset_name = info.name
            except ConfigError:
                pass
        self._changes = None
        self._notify()
        return True

    def _meta_path(self) -> Path:
        return self.session_store.root / '.session.json'

    def _read_session_meta(self) -> dict:
        from modules.config.files import read_json

        try:
            data = read_json(self._meta_path())
        except ConfigError:
            return {}
        return data if isinstance(data, dict) else {}

    def _schedule_save(self) -> None:
        self._cancel_save()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no event loop (scripts, plain tests): write now
            return
        self._save_handle = loop.call_later(self.autosave_delay, self.flush)

    def _cancel_save(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None

    def flush(self) -> None:
        """Write the last-session state (and secrets, when they changed) now."""
        from modules.config.files import atomic_write_json

        self._cancel_save()
        try:
            self.session_store.save_last_session(self.config)
            atomic_write_json(self._meta_path(), {'preset': self.preset_name})
            if self._secrets_changed:
                save_secrets(self.secrets_path, self.config.secrets)
                self._secrets_changed = False
        except OSError as exc:
            log.error('could not save the last session: %s', exc)


_SESSION: ConfigSession | None = None


def init_session(data_dir: str | Path = '.', builtin_presets: str | Path | None = None,
                 **kwargs: Any) -> ConfigSession:
    """Create the process-wide session (replacing any earlier one)."""
    global _SESSION
    if _SESSION is not None:
        _SESSION._cancel_save()
    _SESSION = ConfigSession(data_dir, builtin_presets, **kwargs)
    return _SESSION


def get_session() -> ConfigSession:
    if _SESSION is None:
        raise RuntimeError('the config session has not been created yet (init_session)')
    return _SESSION
