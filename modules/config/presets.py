"""The preset folder: built-in presets (read-only), user presets and the last-session state.

Layout (OneTrainer's): every `*.json` under the presets folder is a preset; sub-folders are menu
groups; a file whose name starts with `#` is built-in and read-only; `#.json` at the top is the
last-session state, not a preset. User presets are written at the top level.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modules.config.base import ConfigError, LoadWarning
from modules.config.files import atomic_write_json, read_json
from modules.config.train_config import TrainConfig

LAST_SESSION_FILE = '#.json'
USER_GROUP = 'User'
_MAX_NAME = 120


@dataclass(frozen=True)
class PresetInfo:
    name: str  # display name: file name without .json (the `#` of built-ins is kept)
    group: str  # sub-folder, or USER_GROUP for top-level user presets
    path: Path

    @property
    def builtin(self) -> bool:
        return self.name.startswith('#')


def check_name(name: str, what: str = 'name') -> str:
    """A file name chosen by a user: refuse anything that could leave its folder."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(what, 'must not be empty')
    name = name.strip()
    if len(name) > _MAX_NAME:
        raise ConfigError(what, f'must be at most {_MAX_NAME} characters')
    if name.strip('.') == '':
        raise ConfigError(what, 'is not a valid file name')
    bad = [c for c in ('/', '\\', '\0', ':') if c in name]
    if bad or os.path.isabs(name) or name.startswith('~') or '..' in name:
        raise ConfigError(what, 'must be a plain name without folders, "..", or path separators')
    if any(ord(c) < 32 for c in name):
        raise ConfigError(what, 'must not contain control characters')
    return name


def contained_path(root: str | os.PathLike, relative: str) -> Path:
    """`root / relative`, refusing any result outside root (symlinks resolved)."""
    root_path = Path(root).resolve()
    target = (root_path / relative).resolve()
    if target != root_path and root_path not in target.parents:
        raise ConfigError(str(relative), 'is outside its folder')
    return target


class PresetStore:
    """Lists, loads and writes presets under one folder."""

    def __init__(self, root: str | os.PathLike = 'training_presets'):
        self.root = Path(root)

    # ---- listing --------------------------------------------------------------------------------
    def list(self) -> list[PresetInfo]:
        """All presets: built-in groups first (sorted), then user presets."""
        found: list[PresetInfo] = []
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.rglob('*.json')):
            relative = path.relative_to(self.root)
            if relative.as_posix() == LAST_SESSION_FILE or any(p.startswith('.') for p in relative.parts):
                continue
            group = relative.parent.as_posix() if relative.parent != Path('.') else USER_GROUP
            found.append(PresetInfo(path.stem, group, path))
        return sorted(found, key=lambda p: (p.group == USER_GROUP, p.group.lower(), p.name.lower()))

    def grouped(self) -> dict[str, list[PresetInfo]]:
        groups: dict[str, list[PresetInfo]] = {}
        for info in self.list():
            groups.setdefault(info.group, []).append(info)
        return groups

    def find(self, name: str) -> PresetInfo:
        for info in self.list():
            if info.name == name or f'{info.group}/{info.name}' == name:
                return info
        raise ConfigError(name, 'no such preset')

    # ---- loading --------------------------------------------------------------------------------
    def load(self, preset: str | PresetInfo, warnings: list[LoadWarning] | None = None) -> TrainConfig:
        """A preset applied to the default config. Built-ins are sparse and are not migrated."""
        info = preset if isinstance(preset, PresetInfo) else self.find(preset)
        return load_config_file(info.path, preset=info.builtin, warnings=warnings)

    # ---- writing user presets -------------------------------------------------------------------
    def user_path(self, name: str) -> Path:
        name = check_name(name, 'preset name')
        if name.startswith('#'):
            raise ConfigError('preset name', 'names starting with "#" are reserved for built-in presets')
        return contained_path(self.root, f'{name}.json')

    def save(self, name: str, config: TrainConfig, overwrite: bool = True) -> PresetInfo:
        path = self.user_path(name)
        if path.exists() and not overwrite:
            raise ConfigError(name, 'a preset with this name exists already')
        atomic_write_json(path, config.to_settings_dict(secrets=False))
        return PresetInfo(path.stem, USER_GROUP, path)

    def rename(self, old: str, new: str) -> PresetInfo:
        info = self._writable(old)
        target = self.user_path(new)
        if target.exists():
            raise ConfigError(new, 'a preset with this name exists already')
        os.replace(info.path, target)
        return PresetInfo(target.stem, USER_GROUP, target)

    def delete(self, name: str) -> None:
        info = self._writable(name)
        info.path.unlink()

    def _writable(self, name: str) -> PresetInfo:
        info = self.find(name)
        if info.builtin:
            raise ConfigError(name, 'built-in presets are read-only; use "save as" to make your own copy')
        return info

    # ---- last session ---------------------------------------------------------------------------
    @property
    def last_session_path(self) -> Path:
        return self.root / LAST_SESSION_FILE

    def save_last_session(self, config: TrainConfig) -> None:
        atomic_write_json(self.last_session_path, config.to_settings_dict(secrets=False))

    def load_last_session(self, warnings: list[LoadWarning] | None = None) -> TrainConfig | None:
        if not self.last_session_path.exists():
            return None
        return load_config_file(self.last_session_path, warnings=warnings)


def load_config_file(path: str | os.PathLike, preset: bool = False,
                     warnings: list[LoadWarning] | None = None) -> TrainConfig:
    """A config file (saved config, exported pack or preset) applied to the default config.

    Sparse built-in presets carry no `__version` and are loaded without migration; everything else
    is migrated from the version it names (none = 0), as OneTrainer does.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), f'a config file holds a JSON object, this one holds {type(data).__name__}')
    return TrainConfig.default_values().from_dict(data, migrate=not preset, warnings=warnings)
