"""The config machinery shared by every config class.

A config class declares an ordered tuple of `ConfigField`s. The order is the JSON key order, the
declared type drives coercion on load, and the UI reads labels, tooltips, units and ranges from the
same place. Loading is lenient the way OneTrainer's is (a bad value keeps the field's previous
value), but never silent: every value that could not be used is reported as a `LoadWarning`.
Structural problems that make a file unusable raise `ConfigError` naming the field.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Self

MISSING = object()


class ConfigError(ValueError):
    """A config could not be loaded or changed; `path` names the field (dotted)."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f'{path or "config"}: {reason}')


@dataclass(frozen=True)
class LoadWarning:
    """A value in a loaded file that could not be used; the field kept its previous value."""

    path: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f'{self.path}: could not use {self.value!r} ({self.reason}); kept the previous value'


@dataclass(frozen=True)
class ConfigField:
    """One field: its schema (name, default, type, nullable) and what the UI needs to show it."""

    name: str
    default: Any
    type: type
    nullable: bool = False
    element: type | None = None  # element class of list[Config] / dict[str, Config]
    label: str = ''
    tooltip: str = ''
    unit: str = ''
    min: float | None = None
    max: float | None = None
    widget: str = ''  # rendering hint: 'file', 'dir', 'path', 'secret', 'multiline', 'time-unit' ...
    default_factory: Callable[[], Any] | None = None  # for defaults that differ per instance

    @property
    def kind(self) -> str:
        if isinstance(self.type, type) and issubclass(self.type, BaseConfig):
            return 'config'
        if self.element is not None:
            return 'config_list' if self.type is list else 'config_dict'
        if isinstance(self.type, type) and issubclass(self.type, Enum):
            return 'enum'
        if self.type in (list, dict):
            return 'raw'
        return 'scalar'

    @property
    def display_label(self) -> str:
        return self.label or humanize(self.name)

    @property
    def choices(self) -> list[Enum] | None:
        return list(self.type) if self.kind == 'enum' else None

    def make_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        if self.kind == 'config':
            nested = self.type()
            if self.default:  # per-slot overrides of the nested class's defaults
                nested.from_dict(self.default, migrate=False)
            return nested
        return copy.deepcopy(self.default)


_WORDS = {
    'lr': 'LR', 'ema': 'EMA', 'vae': 'VAE', 'lora': 'LoRA', 'dtype': 'data type', 'te': 'TE', 'snr': 'SNR',
    'cfg': 'CFG', 'gpu': 'GPU', 'cpu': 'CPU', 'id': 'ID', 'ssh': 'SSH', 'url': 'URL', 'unet': 'UNet', 'svd': 'SVD',
    'dora': 'DoRA', 'loha': 'LoHa', 'lokr': 'LoKr', 'oft': 'OFT', 'mse': 'MSE', 'mae': 'MAE', 'huber': 'Huber',
    'vb': 'VB', 'fp32': 'FP32', 'tf32': 'TF32', 'hf': 'HF', 'huggingface': 'Hugging Face', 'tensorboard': 'TensorBoard',
    'ns': 'NS', 'wd': 'WD', 'nnmf': 'NNMF', 'mars': 'MARS', 'adam': 'Adam', 'muon': 'Muon', 'rms': 'RMS',
    'ademamix': 'AdEMAMix', 'sgd': 'SGD', 'ot': 'OT', 'api': 'API', 'mlp': 'MLP', 'qkv': 'QKV', 'mp4': 'MP4',
}


def humanize(name: str) -> str:
    """A readable label from a field name: `ema_decay` -> `EMA decay`."""
    words = [_WORDS.get(w.lower(), w) for w in name.split('_') if w]
    if not words:
        return name
    first = words[0]
    words[0] = first if first[:1].isupper() else first[:1].upper() + first[1:]
    return ' '.join(words)


def _coerce_float(value: Any) -> float:
    if isinstance(value, str) and value.strip().lower() in ('inf', '+inf', 'infinity'):
        return math.inf
    if isinstance(value, str) and value.strip().lower() in ('-inf', '-infinity'):
        return -math.inf
    if isinstance(value, bool):
        raise TypeError('a boolean is not a number')
    result = float(value)
    if math.isnan(result):
        raise ValueError('NaN is not a usable number')
    return result


def _coerce_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError('a boolean is not a number')
    if isinstance(value, str) and any(c in value for c in '.eE'):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError('not a finite number')
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value)
    raise TypeError(f'expected an integer, got {type(value).__name__}')


def _coerce_bool(value: Any) -> bool:
    # OneTrainer stores booleans as-is; we only accept what is unambiguous so that a switch in the UI
    # never holds a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f'expected true or false, got {value!r}')


def coerce_scalar(f: ConfigField, value: Any) -> Any:
    """Convert a JSON value to the field's declared type, as OneTrainer's loader does."""
    if f.kind == 'enum':
        if value is None:
            if f.nullable:
                return None
            raise ValueError('a value is required')
        if isinstance(value, f.type):
            return value
        if isinstance(value, str) and value in f.type.__members__:
            return f.type[value]
        raise ValueError(f'not one of {", ".join(f.type.__members__)}')
    if value is None and f.nullable:
        return None
    if f.type is str:
        if isinstance(value, (dict, list)):
            raise TypeError('expected text')
        return str(value)
    if f.type is bool:
        return _coerce_bool(value)
    if f.type is int:
        return _coerce_int(value)
    if f.type is float:
        return _coerce_float(value)
    if f.type is list:
        if not isinstance(value, list):
            raise TypeError('expected a list')
        return _strict_json_copy(value)
    if f.type is dict:
        if not isinstance(value, dict):
            raise TypeError('expected an object')
        return _strict_json_copy(value)
    return value


def _strict_json_copy(value: Any) -> Any:
    # Free-form lists and dicts are saved as-is, so they must hold only what strict JSON can write.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError('contains a number that is not finite (NaN or infinity)')
    if isinstance(value, list):
        return [_strict_json_copy(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _strict_json_copy(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _to_json_value(value: Any) -> Any:
    if isinstance(value, BaseConfig):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and math.isinf(value):
        return 'inf' if value > 0 else '-inf'
    return value


Observer = Callable[['BaseConfig', str, Any], None]


class BaseConfig:
    """Base class of every config: ordered fields, to_dict/from_dict, migrations, change observers."""

    FIELDS: ClassVar[tuple[ConfigField, ...]] = ()
    VERSION: ClassVar[int] = 0
    # version -> function(dict) -> dict that upgrades a dict of that version by one step
    MIGRATIONS: ClassVar[dict[int, Callable[[dict], dict]]] = {}
    _FIELD_MAPS: ClassVar[dict[type, dict[str, ConfigField]]] = {}

    def __init__(self) -> None:
        object.__setattr__(self, '_observers', [])
        for f in self.FIELDS:
            object.__setattr__(self, f.name, f.make_default())

    # ---- schema ---------------------------------------------------------------------------------
    @classmethod
    def default_values(cls) -> Self:
        return cls()

    @classmethod
    def field_map(cls) -> dict[str, ConfigField]:
        found = BaseConfig._FIELD_MAPS.get(cls)
        if found is None:
            found = BaseConfig._FIELD_MAPS[cls] = {f.name: f for f in cls.FIELDS}
        return found

    @classmethod
    def get_field(cls, name: str) -> ConfigField:
        return cls.field_map()[name]

    # ---- change notification (the UI subscribes; the backend never needs to) --------------------
    def __setattr__(self, name: str, value: Any) -> None:
        old = getattr(self, name, MISSING)
        object.__setattr__(self, name, value)
        if self._observers and name in self.field_map() and old is not value:
            for observer in list(self._observers):
                observer(self, name, value)

    def subscribe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def unsubscribe(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def __deepcopy__(self, memo: dict) -> Self:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        object.__setattr__(clone, '_observers', [])
        for key, value in self.__dict__.items():
            if key != '_observers':
                object.__setattr__(clone, key, copy.deepcopy(value, memo))
        return clone

    def copy(self) -> Self:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.to_dict()!r})'

    # ---- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {'__version': self.VERSION}
        for f in self.FIELDS:
            value = getattr(self, f.name)
            kind = f.kind
            if kind == 'config_list':
                data[f.name] = None if value is None else [item.to_dict() for item in value]
            elif kind == 'config_dict':
                data[f.name] = {key: item.to_dict() for key, item in value.items()}
            elif kind == 'raw':
                data[f.name] = copy.deepcopy(value)
            else:
                data[f.name] = _to_json_value(value)
        return data

    @classmethod
    def migrate(cls, data: dict[str, Any], path: str = '') -> dict[str, Any]:
        """Upgrade `data` to the current version (a dict without `__version` counts as version 0)."""
        version = data.get('__version', 0)
        if isinstance(version, bool) or not isinstance(version, int):
            try:
                version = _coerce_int(version)
            except (TypeError, ValueError):
                raise ConfigError(_join(path, '__version'), f'{version!r} is not a version number') from None
        if version > cls.VERSION:
            raise ConfigError(_join(path, '__version'),
                              f'version {version} is newer than this program understands ({cls.VERSION})')
        data = copy.deepcopy(data)
        while version in cls.MIGRATIONS:
            try:
                data = cls.MIGRATIONS[version](data)
            except ConfigError:
                raise
            except Exception as exc:  # a malformed old file: name the step that could not run
                raise ConfigError(path or cls.__name__,
                                  f'cannot upgrade from version {version}: {type(exc).__name__}: {exc}') from exc
            version += 1
        return data

    def from_dict(self, data: Any, migrate: bool = True, *, warnings: list[LoadWarning] | None = None,
                  path: str = '') -> Self:
        """Fill this config from a JSON dict (missing keys keep their current value)."""
        if not isinstance(data, dict):
            raise ConfigError(path, f'expected a JSON object, got {type(data).__name__}')
        if warnings is None:
            warnings = []
        if migrate:
            data = self.migrate(data, path)
        for f in self.FIELDS:
            if f.name not in data:
                continue
            value = data[f.name]
            field_path = _join(path, f.name)
            try:
                self._load_field(f, value, migrate, warnings, field_path)
            except ConfigError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
                warnings.append(LoadWarning(field_path, value, str(exc) or type(exc).__name__))
        object.__setattr__(self, '_load_warnings', warnings)
        return self

    @property
    def load_warnings(self) -> list[LoadWarning]:
        return getattr(self, '_load_warnings', [])

    def _load_field(self, f: ConfigField, value: Any, migrate: bool, warnings: list[LoadWarning],
                    path: str) -> None:
        kind = f.kind
        if kind == 'config':
            if not isinstance(value, dict):
                raise TypeError('expected an object')
            nested = getattr(self, f.name)
            nested.from_dict(value, migrate, warnings=warnings, path=path)
        elif kind == 'config_list':
            if value is None:
                if not f.nullable:
                    raise TypeError('a list is required')
                setattr(self, f.name, None)
                return
            if not isinstance(value, list):
                raise TypeError('expected a list')
            if any(not isinstance(element, dict) for element in value):
                raise TypeError('every element must be an object')
            current = getattr(self, f.name) or []
            items = []
            for i, element in enumerate(value):
                item = current[i] if i < len(current) else f.element.default_values()
                item.from_dict(element, migrate, warnings=warnings, path=f'{path}[{i}]')
                items.append(item)
            setattr(self, f.name, items)
        elif kind == 'config_dict':
            if not isinstance(value, dict) or any(not isinstance(e, dict) for e in value.values()):
                raise TypeError('expected an object of objects')
            items = {}
            for key, element in value.items():
                items[str(key)] = f.element.default_values().from_dict(
                    element, migrate, warnings=warnings, path=f'{path}.{key}')
            setattr(self, f.name, items)
        else:
            setattr(self, f.name, coerce_scalar(f, value))

    # ---- dotted paths (CLI --config-value, the UI's field search, validation messages) ---------
    def resolve(self, path: str) -> tuple[BaseConfig, ConfigField]:
        """The config object owning the dotted `path` and the field there."""
        owner: BaseConfig = self
        parts = path.split('.')
        for part in parts[:-1]:
            f = owner.field_map().get(part)
            if f is None or f.kind != 'config':
                raise ConfigError(path, f'{part!r} is not a nested config')
            owner = getattr(owner, part)
        f = owner.field_map().get(parts[-1])
        if f is None:
            raise ConfigError(path, 'no such field')
        return owner, f

    def get_path(self, path: str) -> Any:
        owner, f = self.resolve(path)
        return getattr(owner, f.name)

    def set_path_from_text(self, path: str, text: str) -> None:
        """Set a field from command-line text (`true`/`1`/`yes` for booleans), with clear errors."""
        owner, f = self.resolve(path)
        if f.type is bool:
            value: Any = text.strip().lower() in ('true', '1', 'yes')
        elif f.kind in ('scalar', 'enum'):
            if f.nullable and text.strip().lower() in ('null', 'none'):
                value = None
            else:
                try:
                    value = coerce_scalar(f, text)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(path, str(exc)) from None
        else:
            raise ConfigError(path, 'only single values can be set from text')
        setattr(owner, f.name, value)

    def iter_fields(self, prefix: str = '') -> Iterator[tuple[str, BaseConfig, ConfigField]]:
        """Every (dotted path, owner, field) of scalar and enum fields, nested configs included."""
        for f in self.FIELDS:
            path = _join(prefix, f.name)
            if f.kind == 'config':
                yield from getattr(self, f.name).iter_fields(path)
            else:
                yield path, self, f


def _join(prefix: str, name: str) -> str:
    return f'{prefix}.{name}' if prefix else name


def fields(*items: ConfigField) -> tuple[ConfigField, ...]:
    return tuple(items)


__all__ = ['BaseConfig', 'ConfigError', 'ConfigField', 'LoadWarning', 'coerce_scalar', 'fields']
