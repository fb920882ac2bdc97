"""File-format names of HiDream-I1. The released transformer uses the same module names as diffusers
(diffusers' single-file and adapter importers only strip the `model.diffusion_model.` /
`diffusion_model.` prefixes), so the native map is the identity and nothing is fused."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.families.parts.flux_layout import T5_VOCABULARY, t5_text_encoder
from modules.formats.keymap import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

# the transformer's top-level modules, named alike in every convention
NATIVE_ROOTS = frozenset({"t_embedder", "p_embedder", "x_embedder", "pe_embedder", "double_stream_blocks",
                          "single_stream_blocks", "final_layer", "caption_projection"})

TRANSFORMER_VOCABULARY = frozenset({
    *NATIVE_ROOTS, "adaLN_modulation", "to_q", "to_k", "to_v", "to_out", "to_q_t", "to_k_t", "to_v_t", "to_out_t",
    "q_rms_norm", "k_rms_norm", "q_rms_norm_t", "k_rms_norm_t", "ff_i", "ff_t", "shared_experts", "norm1_i",
    "norm1_t", "norm3_i", "norm3_t", "timestep_embedder", "pooled_embedder", "linear_1", "linear_2",
})
LLAMA_VOCABULARY = frozenset({"embed_tokens", "self_attn", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                              "up_proj", "down_proj", "input_layernorm", "post_attention_layernorm", "lm_head"})


def native_map(config: Mapping | None) -> PrefixMap:
    return PrefixMap(Rule(root, root) for root in NATIVE_ROOTS)


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer's weights under their own names."""
    return dict(state_dict)


HIDREAM = FamilyKeymap(
    name="hidream",
    model_types=frozenset({"HI_DREAM_FULL"}),
    denoiser="transformer",
    text_encoders=(
        clip_text_encoder("text_encoder", "lora_te1", "clip_l", "clip_l", "clip_l"),
        clip_text_encoder("text_encoder_2", "lora_te2", "clip_g", "clip_g", "clip_g"),
        t5_text_encoder("text_encoder_3", "lora_te3"),
        TextEncoderKeys(part="text_encoder_4", kohya_prefix="lora_te4", comfy_name="llama", embedding_key="llama",
                        bundle_key="llama"),
    ),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=TRANSFORMER_VOCABULARY | CLIP_VOCABULARY | T5_VOCABULARY | LLAMA_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,  # OneTrainer has no legacy adapter layout for HiDream
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"HI_DREAM_FULL": "HiDreamImagePipeline"},
)

KEYMAPS = (HIDREAM,)
