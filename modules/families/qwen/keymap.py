"""File-format names of Qwen-Image. The original checkpoints name the transformer's modules as diffusers
does (`transformer_blocks.{i}.attn.to_q`, `img_mod.1`, `txt_in` ...) and fuse nothing, so the native
map is the identity and the transformer file is the state dict as it is. LEGACY_LORA files keep the
canonical dotted keys (`transformer.<module>.lora_down.weight`, `.alpha`)."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import torch

from modules.formats.keymap import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

# the transformer's top-level modules: the same names in both namings
NATIVE_ROOTS = frozenset({"transformer_blocks", "img_in", "txt_in", "txt_norm", "time_text_embed", "norm_out",
                          "proj_out", "pos_embed"})

TRANSFORMER_VOCABULARY = frozenset({
    "transformer_blocks", "img_in", "txt_in", "txt_norm", "time_text_embed", "timestep_embedder", "time_proj",
    "linear_1", "linear_2", "norm_out", "proj_out", "pos_embed", "img_mod", "txt_mod", "img_mlp", "txt_mlp",
    "img_norm1", "img_norm2", "txt_norm1", "txt_norm2", "to_q", "to_k", "to_v", "to_out", "add_q_proj",
    "add_k_proj", "add_v_proj", "to_add_out", "norm_q", "norm_k", "norm_added_q", "norm_added_k",
})
QWEN25VL_VOCABULARY = frozenset({
    "language_model", "embed_tokens", "self_attn", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
    "down_proj", "input_layernorm", "post_attention_layernorm", "lm_head",
})


@cache
def _identity() -> PrefixMap:
    return PrefixMap(Rule(root, root) for root in NATIVE_ROOTS)


def native_map(config: Mapping | None) -> PrefixMap:
    return _identity()


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    return dict(state_dict)


QWEN = FamilyKeymap(
    name="qwen",
    model_types=frozenset({"QWEN"}),
    denoiser="transformer",
    text_encoders=(TextEncoderKeys(part="text_encoder", kohya_prefix="lora_te", comfy_name="qwen25_7b",
                                   embedding_key="qwen25_7b", bundle_key="qwen25_7b"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=TRANSFORMER_VOCABULARY | QWEN25VL_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, named as in diffusers
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"QWEN": "QwenImagePipeline"},
    legacy_lora_canonical=True,
)

KEYMAPS = (QWEN,)
