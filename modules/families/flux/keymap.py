"""File-format names of Flux.1 (Black Forest Labs layout: double and single blocks, fused q/k/v)."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.families.parts.flux_layout import (
    FLUX_NATIVE_ROOTS,
    FLUX_VOCABULARY,
    SWAPPED_HALVES,
    T5_VOCABULARY,
    FluxLayout,
    flux_fusions,
    from_original,
    native_map_factory,
    t5_text_encoder,
    to_original,
)
from modules.formats.keymap import FamilyKeymap, SingleFileComponent

FLUX_DEV_LAYOUT = FluxLayout(double_blocks=19, single_blocks=38)

# adapter conventions that name the denoiser natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    return to_original(state_dict, FluxLayout.from_config(config))


def transformer_from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    return from_original(state_dict, FluxLayout.from_config(config))


def _swapped_outputs(config: Mapping | None) -> frozenset[str]:
    return frozenset(SWAPPED_HALVES)


FLUX = FamilyKeymap(
    name="flux",
    model_types=frozenset({"FLUX_DEV_1", "FLUX_FILL_DEV_1"}),
    denoiser="transformer",
    text_encoders=(
        clip_text_encoder("text_encoder", "lora_te1", "clip_l", "clip_l", "clip_l"),
        # kohya's sd-scripts names Flux's T5 `lora_te3` (ComfyUI reads both)
        t5_text_encoder("text_encoder_2", "lora_te2", read_prefixes=("lora_te3",)),
    ),
    native_map=native_map_factory(FLUX_DEV_LAYOUT),
    native_roots=FLUX_NATIVE_ROOTS,
    vocabulary=FLUX_VOCABULARY | CLIP_VOCABULARY | T5_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", transformer_to_original,
                                     from_original=transformer_from_original),),
    pipelines={"FLUX_DEV_1": "FluxPipeline", "FLUX_FILL_DEV_1": "FluxFillPipeline"},
    fusions=flux_fusions("transformer", FUSED_FORMATS),
    legacy_denoiser_prefix="lora_transformer",
    swapped_outputs=_swapped_outputs,
)

KEYMAPS = (FLUX,)
