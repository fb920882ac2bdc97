"""Model families: everything that differs between architectures lives in one package per family."""
from .registry import (
    UnsupportedModelType,
    all_facts,
    facts_for,
    family_for,
    keymap_for,
    supported_model_types,
)

__all__ = ["UnsupportedModelType", "all_facts", "facts_for", "family_for", "keymap_for", "supported_model_types"]
