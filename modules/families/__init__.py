"""Model families: everything that differs between architectures lives in one package per family."""
from .registry import family_for, supported_model_types

__all__ = ["family_for", "supported_model_types"]
