"""File-format names of Chroma1: the Flux native layout (double and single blocks, fused q/k/v and
`linear1`) without modulation layers, plus the `distilled_guidance_layer` approximator."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache

import torch

from modules.families.parts.flux_layout import (
    FLUX_VOCABULARY,
    T5_VOCABULARY,
    FluxLayout,
    flux_fusions,
    flux_map,
    from_original,
    t5_text_encoder,
    to_original,
)
from modules.formats.keymap import FamilyKeymap, SingleFileComponent
from modules.formats.prefix_map import PrefixMap, Rule

CHROMA_LAYOUT = FluxLayout(double_blocks=19, single_blocks=38)  # Chroma1-HD
CHROMA_APPROXIMATOR_LAYERS = 5

APPROXIMATOR = "distilled_guidance_layer"
_APPROXIMATOR_LEAVES = {"linear_1": "in_layer", "linear_2": "out_layer"}

NATIVE_ROOTS = frozenset({"double_blocks", "single_blocks", "img_in", "txt_in", "final_layer", APPROXIMATOR})
VOCABULARY = FLUX_VOCABULARY | T5_VOCABULARY | frozenset({APPROXIMATOR, "in_proj", "out_proj"})

# adapter conventions that name the denoiser natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


@cache
def embedder_rules(approximator_layers: int) -> tuple[Rule, ...]:
    """Everything outside the blocks: image/text input projections, the final projection, and the
    approximator, whose MLP layers are `in_layer`/`out_layer` and RMSNorms `norms.{i}` natively."""
    rules = [
        Rule("x_embedder", "img_in"),
        Rule("context_embedder", "txt_in"),
        Rule("proj_out", "final_layer.linear"),
        Rule(APPROXIMATOR, APPROXIMATOR),
    ]
    rules += [Rule(f"{APPROXIMATOR}.layers.{i}", f"{APPROXIMATOR}.layers.{i}", _APPROXIMATOR_LEAVES)
              for i in range(approximator_layers)]
    return tuple(rules)


def _layout(config: Mapping | None) -> tuple[FluxLayout, int]:
    if config is None:
        return CHROMA_LAYOUT, CHROMA_APPROXIMATOR_LAYERS
    return FluxLayout.from_config(config), int(config.get("approximator_layers", CHROMA_APPROXIMATOR_LAYERS))


def native_map(config: Mapping | None) -> PrefixMap:
    layout, approximator_layers = _layout(config)
    return flux_map(layout, embedder_rules(approximator_layers))


def _is_approximator_norm(key: str) -> bool:
    parts = key.split(".")
    return len(parts) == 4 and parts[0] == APPROXIMATOR and parts[1] == "norms"


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers transformer -> native keys: fused projections, RMSNorm weights named `scale`."""
    layout, approximator_layers = _layout(config)
    out = to_original(state_dict, layout, embedder_rules(approximator_layers))
    return {(k[: -len("weight")] + "scale" if _is_approximator_norm(k) and k.endswith(".weight") else k): v
            for k, v in out.items()}


def transformer_from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The inverse of `transformer_to_original`."""
    layout, approximator_layers = _layout(config)
    renamed = {(k[: -len("scale")] + "weight" if _is_approximator_norm(k) and k.endswith(".scale") else k): v
               for k, v in state_dict.items()}
    return from_original(renamed, layout, embedder_rules(approximator_layers))


CHROMA = FamilyKeymap(
    name="chroma",
    model_types=frozenset({"CHROMA_1"}),
    denoiser="transformer",
    # LEGACY_LORA names the single T5 `lora_te`, KOHYA_LORA `lora_te1`
    text_encoders=(dataclasses.replace(t5_text_encoder("text_encoder", "lora_te1"), legacy_prefix="lora_te"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", transformer_to_original,
                                     from_original=transformer_from_original),),
    pipelines={"CHROMA_1": "ChromaPipeline"},
    fusions=flux_fusions("transformer", FUSED_FORMATS),
    legacy_denoiser_prefix="lora_transformer",
)

KEYMAPS = (CHROMA,)
