"""Registry of per-family key maps: model type -> FamilyKeymap.

A new family is one module here plus one entry in FAMILIES.
"""
from __future__ import annotations

from modules.formats.keymaps.base import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.keymaps.sd import SD1, SD2
from modules.formats.keymaps.sdxl import SDXL

FAMILIES: tuple[FamilyKeymap, ...] = (SD1, SD2, SDXL)

_BY_MODEL_TYPE = {model_type: family for family in FAMILIES for model_type in family.model_types}


class UnsupportedModelTypeError(ValueError):
    pass


def keymap_for(model_type) -> FamilyKeymap:
    try:
        return _BY_MODEL_TYPE[str(model_type)]
    except KeyError:
        raise UnsupportedModelTypeError(f"no file-format key map for model type {model_type}") from None


def find_keymap(model_type) -> FamilyKeymap | None:
    return _BY_MODEL_TYPE.get(str(model_type))


__all__ = ["FAMILIES", "FamilyKeymap", "SingleFileComponent", "TextEncoderKeys", "UnsupportedModelTypeError",
           "find_keymap", "keymap_for"]
