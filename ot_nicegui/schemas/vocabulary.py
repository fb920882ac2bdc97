"""The words schemas are written in: a field (a dotted config path), a section, a tab.

A schema names fields only; widget kind, label, tooltip, range and choices come from the field's
metadata in `modules/config`. A schema adds only what depends on the context: a label that names
the model part, a subset of choices, or a compound widget (time value + unit, layer filter).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from modules.config.enums import DataType, TimeUnit


@dataclass(frozen=True)
class FieldDef:
    path: str  # dotted path into TrainConfig
    label: str | None = None  # only where the context changes the meaning (e.g. "Text encoder 2 data type")
    kind: str = 'field'  # 'field' | 'time' (path + path_unit) | 'layer_filter' (path = prefix, '' or 'quantization.')
    choices: tuple[Enum, ...] | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        """Every config path this entry edits."""
        if self.kind == 'time':
            return self.path, f'{self.path}_unit'
        if self.kind == 'layer_filter':
            return tuple(f'{self.path}{name}' for name in ('layer_filter_preset', 'layer_filter', 'layer_filter_regex'))
        return (self.path,)


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[FieldDef, ...]


def fd(path: str, label: str | None = None, choices: tuple[Enum, ...] | list[Enum] | None = None) -> FieldDef:
    return FieldDef(path, label, 'field', tuple(choices) if choices is not None else None)


def time_entry(path: str, label: str | None = None, units: tuple[TimeUnit, ...] | None = None) -> FieldDef:
    """A count and its unit (`<path>` + `<path>_unit`)."""
    return FieldDef(path, label, 'time', units)


def layer_filter(prefix: str = '', label: str | None = None) -> FieldDef:
    """The layer-filter trio under `prefix` ('' for training, 'quantization.' for quantization)."""
    return FieldDef(prefix, label, 'layer_filter')


def section(title: str, *fields: FieldDef | str) -> Section:
    return Section(title, tuple(f if isinstance(f, FieldDef) else fd(f) for f in fields))


# ---- option sets shared by several tabs ----------------------------------------------------------
ALL_UNITS = tuple(TimeUnit)
COUNT_UNITS = (TimeUnit.EPOCH, TimeUnit.STEP, TimeUnit.NEVER, TimeUnit.ALWAYS)  # "stop after": no clock units

BASIC_DTYPES = (DataType.FLOAT_32, DataType.BFLOAT_16, DataType.FLOAT_16, DataType.FLOAT_8, DataType.NFLOAT_4)
A8_DTYPES = BASIC_DTYPES + (DataType.FLOAT_W8A8, DataType.INT_W8A8)
COMPRESSED_DTYPES = (DataType.FLOAT_W8A8_COMPRESSED, DataType.INT_W8A8_COMPRESSED)
GGUF_DTYPES = (DataType.GGUF, DataType.GGUF_A8_FLOAT, DataType.GGUF_A8_INT)
OUTPUT_DTYPES = (DataType.FLOAT_16, DataType.FLOAT_32, DataType.BFLOAT_16, DataType.FLOAT_8, DataType.NFLOAT_4)
TRAIN_DTYPES = (DataType.FLOAT_32, DataType.FLOAT_16, DataType.BFLOAT_16, DataType.TFLOAT_32)
FALLBACK_DTYPES = (DataType.FLOAT_32, DataType.BFLOAT_16)
ADAPTER_DTYPES = (DataType.FLOAT_32, DataType.BFLOAT_16)
SVD_DTYPES = (DataType.NONE, DataType.FLOAT_32, DataType.BFLOAT_16)
