"""model_type → family class: the one table a new model type is added to."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from modules.config.enums import ModelType

if TYPE_CHECKING:
    from .base import ModelFamily

_TABLE: dict[str, str] = {
    **{t: "modules.families.sd:StableDiffusionFamily" for t in (
        "STABLE_DIFFUSION_15", "STABLE_DIFFUSION_15_INPAINTING", "STABLE_DIFFUSION_20", "STABLE_DIFFUSION_20_BASE",
        "STABLE_DIFFUSION_20_INPAINTING", "STABLE_DIFFUSION_20_DEPTH", "STABLE_DIFFUSION_21",
        "STABLE_DIFFUSION_21_BASE")},
    **{t: "modules.families.sdxl:StableDiffusionXLFamily" for t in (
        "STABLE_DIFFUSION_XL_10_BASE", "STABLE_DIFFUSION_XL_10_BASE_INPAINTING")},
}


def supported_model_types() -> list[ModelType]:
    return [ModelType(t) for t in _TABLE]


def family_for(model_type) -> ModelFamily:
    from .quiet import quiet_libraries

    quiet_libraries()
    key = ModelType(model_type).value
    if key not in _TABLE:
        raise NotImplementedError(f"model type {key} is not supported yet")
    module_name, cls_name = _TABLE[key].split(":")
    return getattr(import_module(module_name), cls_name)(ModelType(key))
