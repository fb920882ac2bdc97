"""Reading and writing config files: atomic JSON writes, concept and sample lists, secrets.

A write goes to a temporary file in the same folder, is flushed to disk and then renamed over the
target, so a crash leaves either the old file or the new one, never half of each.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from modules.config.base import ConfigError, LoadWarning
from modules.config.concept_config import ConceptConfig
from modules.config.enums import ModelType
from modules.config.sample_config import SampleConfig
from modules.config.secrets_config import SecretsConfig


def atomic_write_text(path: str | os.PathLike, text: str, *, sync_folder: bool = True) -> None:
    """`sync_folder=False` leaves the rename's durability to one `fsync_folder` call after many writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if sync_folder:
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (not every system can open a folder; then it is skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=4, ensure_ascii=False) + '\n')


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; every failure becomes a ConfigError that names the file."""
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), 'file not found') from None
    except IsADirectoryError:
        raise ConfigError(str(path), 'is a folder, not a file') from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), 'not a UTF-8 text file') from None
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), f'not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})') from None
    except OSError as exc:
        raise ConfigError(str(path), exc.strerror or str(exc)) from None


def _read_list(path: str | os.PathLike, what: str) -> list:
    data = read_json(path)
    if not isinstance(data, list):
        raise ConfigError(str(path), f'a {what} file holds a JSON list, this one holds {type(data).__name__}')
    return data


def concepts_from_list(data: list, warnings: list[LoadWarning] | None = None) -> list[ConceptConfig]:
    return [ConceptConfig.default_values().from_dict(item, warnings=warnings, path=f'concepts[{i}]')
            for i, item in enumerate(data)]


def samples_from_list(data: list, model_type: ModelType,
                      warnings: list[LoadWarning] | None = None) -> list[SampleConfig]:
    return [SampleConfig.for_model_type(model_type).from_dict(item, warnings=warnings, path=f'samples[{i}]')
            for i, item in enumerate(data)]


def load_concepts(path: str | os.PathLike, warnings: list[LoadWarning] | None = None) -> list[ConceptConfig]:
    return concepts_from_list(_read_list(path, 'concepts'), warnings)


def save_concepts(path: str | os.PathLike, concepts: list[ConceptConfig]) -> None:
    atomic_write_json(path, [c.to_dict() for c in concepts])


def load_samples(path: str | os.PathLike, model_type: ModelType = ModelType.STABLE_DIFFUSION_15,
                 warnings: list[LoadWarning] | None = None) -> list[SampleConfig]:
    return samples_from_list(_read_list(path, 'samples'), model_type, warnings)


def save_samples(path: str | os.PathLike, samples: list[SampleConfig]) -> None:
    atomic_write_json(path, [s.to_dict() for s in samples])


def load_secrets(path: str | os.PathLike, required: bool = False) -> SecretsConfig:
    """`secrets.json`; a missing file gives empty secrets unless the caller named it explicitly."""
    if not os.path.exists(path):
        if required:
            raise ConfigError(str(path), 'file not found')
        return SecretsConfig.default_values()
    return SecretsConfig.default_values().from_dict(read_json(path))


def save_secrets(path: str | os.PathLike, secrets: SecretsConfig) -> None:
    atomic_write_json(path, secrets.to_dict())
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass
