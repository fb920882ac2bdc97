"""File-format names of Flux 2 (Black Forest Labs layout: double and single blocks, fused q/k/v in the
double blocks). LEGACY_LORA files keep the in-memory names; no text-encoder adapter is written."""
from __future__ import annotations

from collections.abc import Mapping

from modules.families.parts.flux2_layout import (
    NATIVE_ROOTS,
    SWAPPED_HALVES,
    VOCABULARY,
    fusions,
    native_map_for,
    to_original,
)
from modules.formats.keymap import FamilyKeymap, SingleFileComponent

# adapter conventions that name the denoiser natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


def _swapped_outputs(config: Mapping | None) -> frozenset[str]:
    return frozenset(SWAPPED_HALVES)


FLUX2 = FamilyKeymap(
    name="flux2",
    model_types=frozenset({"FLUX_2"}),
    denoiser="transformer",
    text_encoders=(),
    native_map=native_map_for,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", to_original),),
    pipelines={"FLUX_2": "Flux2Pipeline"},
    fusions=fusions("transformer", FUSED_FORMATS),
    legacy_lora_canonical=True,
    swapped_outputs=_swapped_outputs,
)

KEYMAPS = (FLUX2,)
