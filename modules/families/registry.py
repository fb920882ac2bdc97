"""The one table of model families: a new family is one package and one line here.

Facts (`facts_for`) load without torch, for the UI; behaviour (`family_for`) loads the family's
model code on first use.
"""
from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modules.formats.keymap import FamilyKeymap

    from .base import FamilyFacts, ModelFamily

PACKAGES: tuple[str, ...] = (
    "sd",
    "sdxl",
    "flux",
    "sd3",
    "chroma",
    "ernie",
    "krea2",
    "qwen",
    "ideogram4",
    "zimage",
    "hidream",
    "flux2",
    "anima",
    "sana",
    "pixart",
    "wuerstchen",
    "stable_cascade",
    "hunyuan_video",
)


class UnsupportedModelType(NotImplementedError):
    """The model type has no family yet: it cannot be trained here."""


@cache
def _facts_by_model_type() -> dict[str, FamilyFacts]:
    table: dict[str, FamilyFacts] = {}
    for package in PACKAGES:
        facts = import_module(f"modules.families.{package}.facts").FACTS
        for model_type in facts.model_types:
            if model_type in table:
                raise ValueError(f"model type {model_type} is claimed by {table[model_type].name} and {facts.name}")
            table[model_type] = facts
    return table


def all_facts() -> list[FamilyFacts]:
    return list({id(f): f for f in _facts_by_model_type().values()}.values())


def facts_for(model_type) -> FamilyFacts | None:
    """The family facts of a model type, or None while no family trains it."""
    return _facts_by_model_type().get(str(model_type))


def supported_model_types():
    from modules.config.enums import ModelType

    return [ModelType(t) for t in _facts_by_model_type()]


def family_for(model_type) -> ModelFamily:
    facts = facts_for(model_type)
    if facts is None:
        raise UnsupportedModelType(f"model type {model_type} cannot be trained yet")
    from .quiet import quiet_libraries

    quiet_libraries()
    return import_module(f"modules.families.{facts.package}.family").FAMILY(model_type)


def keymap_for(model_type) -> FamilyKeymap:
    return family_for(model_type).keymap
