"""File-format names of Ideogram 4. The native (Ideogram) transformer names every module as
diffusers does except the attention: q/k/v fused into `attention.qkv`, the output projection
`attention.o`:

    layers.{i}.attention.to_q / to_k / to_v      layers.{i}.attention.qkv
    layers.{i}.attention.to_out.0                layers.{i}.attention.o

Native adapter files (KOHYA, ORIGINAL, COMFY) and the ORIGINAL_TRANSFORMER file use these names.
No text-encoder names: Ideogram 4 trains no text-encoder adapter and no embedding."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import torch

from modules.families.parts.flux_layout import fuse_weights
from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent
from modules.formats.prefix_map import PrefixMap, Rule

IDEOGRAM_4_LAYERS = 34  # the released model

EMBEDDERS = ("input_proj", "llm_cond_norm", "llm_cond_proj", "t_embedding", "adaln_proj", "embed_image_indicator",
             "final_layer")
LAYER_LEAVES = {"attention.to_out.0": "attention.o"}

NATIVE_ROOTS = frozenset({"layers", *EMBEDDERS})
VOCABULARY = frozenset({
    *EMBEDDERS, "feed_forward", "to_q", "to_k", "to_v", "to_out", "norm_q", "norm_k", "attention_norm1",
    "attention_norm2", "ffn_norm1", "ffn_norm2", "adaln_modulation", "mlp_in", "mlp_out", "norm_final",
})

# adapter conventions that name the transformer natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


def fusions(formats) -> tuple[Fusion, ...]:
    return (Fusion("transformer", "layers.{i}.attention.to_q|to_k|to_v", "layers.{i}.attention.qkv", formats),)


@cache
def _map(layers: int) -> PrefixMap:
    rules = [Rule(name, name) for name in EMBEDDERS]
    rules += [Rule(f"layers.{i}", f"layers.{i}", LAYER_LEAVES) for i in range(layers)]
    return PrefixMap(rules)


def native_map(config: Mapping | None) -> PrefixMap:
    return _map(IDEOGRAM_4_LAYERS if config is None else int(config["num_layers"]))


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers transformer -> native keys: q/k/v stacked into `qkv`, `to_out.0` named `o`."""
    native = native_map(config)
    out = {}
    for key, value in fuse_weights(state_dict, fusions(())).items():
        module, _, param = key.rpartition(".")
        out[f"{native.forward(module)}.{param}"] = value
    return out


IDEOGRAM_4 = FamilyKeymap(
    name="ideogram4",
    model_types=frozenset({"IDEOGRAM_4"}),
    denoiser="transformer",
    text_encoders=(),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    # ORIGINAL_TRANSFORMER: the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"IDEOGRAM_4": "Ideogram4Pipeline"},
    fusions=fusions(FUSED_FORMATS),
)

KEYMAPS = (IDEOGRAM_4,)
