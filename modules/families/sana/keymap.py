"""File-format names of Sana. The adapter conventions name the transformer's modules as diffusers does
(`transformer_blocks.{i}.attn1.to_q`, `ff.conv_inverted` ...) and fuse nothing, so the native map is
the identity; the Gemma 2 text encoder keeps its transformers names under `lora_te` (kohya). Sana has
no LEGACY_LORA layout, no ComfyUI text-encoder name and no single-file transformer format."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from modules.formats.keymap import FamilyKeymap, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

# the transformer's top-level modules: the same names in both namings
NATIVE_ROOTS = frozenset({"patch_embed", "time_embed", "caption_projection", "caption_norm", "transformer_blocks",
                          "norm_out", "proj_out", "scale_shift_table"})

TRANSFORMER_VOCABULARY = frozenset({
    "patch_embed", "time_embed", "timestep_embedder", "linear_1", "linear_2", "caption_projection", "caption_norm",
    "transformer_blocks", "to_q", "to_k", "to_v", "to_out", "conv_inverted", "conv_depth", "conv_point", "norm_out",
    "proj_out", "scale_shift_table", "norm_q", "norm_k",
})
GEMMA2_VOCABULARY = frozenset({
    "embed_tokens", "self_attn", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm",
})


@cache
def _identity() -> PrefixMap:
    return PrefixMap(Rule(root, root) for root in NATIVE_ROOTS)


def native_map(config: Mapping | None) -> PrefixMap:
    return _identity()


SANA = FamilyKeymap(
    name="sana",
    model_types=frozenset({"SANA"}),
    denoiser="transformer",
    text_encoders=(TextEncoderKeys(part="text_encoder", kohya_prefix="lora_te", comfy_name=None,
                                   embedding_key="gemma", bundle_key="gemma"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=TRANSFORMER_VOCABULARY | GEMMA2_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    pipelines={"SANA": "SanaPipeline"},
)

KEYMAPS = (SANA,)
