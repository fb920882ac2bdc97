"""File-format names of Stable Diffusion 3 / 3.5 (Stability's MMDiT layout, CLIP-L, CLIP-G, T5-XXL)."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.families.parts.ldm_layout import vae_to_original, with_text_model_root
from modules.families.parts.mmdit_layout import (
    MMDIT_ROOTS,
    MMDIT_VOCABULARY,
    mmdit_native_map,
    mmdit_to_original,
    swapped_modules,
)
from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent, TextEncoderKeys

T5_VOCABULARY = frozenset({"embed_tokens", "final_layer_norm", "layer_norm", "wi_0", "wi_1",
                           "relative_attention_bias"})

# formats whose files name the transformer natively, with q/k/v fused as the native model does
_FUSED = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})
FUSIONS = (
    Fusion("transformer", "transformer_blocks.{i}.attn.to_q|to_k|to_v", "transformer_blocks.{i}.attn.qkv", _FUSED),
    Fusion("transformer", "transformer_blocks.{i}.attn.add_q_proj|add_k_proj|add_v_proj",
           "transformer_blocks.{i}.attn.added_qkv", _FUSED),
    Fusion("transformer", "transformer_blocks.{i}.attn2.to_q|to_k|to_v", "transformer_blocks.{i}.attn2.qkv", _FUSED),
)


def clip_to_sd3(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """SD3 files keep both CLIPs in the Hugging Face layout, under `text_model.`."""
    return with_text_model_root(state_dict)


def t5_to_sd3(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """T5 encoder weights as they are (`shared`, `encoder.block...`); the token table, tied to
    `encoder.embed_tokens`, is stored once, as `shared`."""
    out = dict(state_dict)
    if "shared.weight" not in out and "encoder.embed_tokens.weight" in out:
        out["shared.weight"] = out["encoder.embed_tokens.weight"]
    out.pop("encoder.embed_tokens.weight", None)
    return out


def _keymap(name: str, model_type: str, default_layers: int) -> FamilyKeymap:
    return FamilyKeymap(
        name=name,
        model_types=frozenset({model_type}),
        denoiser="transformer",
        text_encoders=(
            clip_text_encoder("text_encoder", "lora_te1", "clip_l", "clip_l", "clip_l"),
            clip_text_encoder("text_encoder_2", "lora_te2", "clip_g", "clip_g", "clip_g"),
            TextEncoderKeys(part="text_encoder_3", kohya_prefix="lora_te3", comfy_name="t5xxl", embedding_key="t5",
                            bundle_key="t5"),
        ),
        native_map=mmdit_native_map(default_layers),
        native_roots=MMDIT_ROOTS,
        vocabulary=MMDIT_VOCABULARY | CLIP_VOCABULARY | T5_VOCABULARY,
        kohya_native_denoiser=True,
        has_legacy_lora=True,
        single_file=(
            SingleFileComponent("transformer", "model.diffusion_model.", mmdit_to_original),
            SingleFileComponent("vae", "first_stage_model.", vae_to_original),
            SingleFileComponent("text_encoder", "text_encoders.clip_l.transformer.", clip_to_sd3),
            SingleFileComponent("text_encoder_2", "text_encoders.clip_g.transformer.", clip_to_sd3),
            SingleFileComponent("text_encoder_3", "text_encoders.t5xxl.transformer.", t5_to_sd3, optional=True),
        ),
        pipelines={model_type: "StableDiffusion3Pipeline"},
        fusions=FUSIONS,
        legacy_denoiser_prefix="lora_transformer",
        swapped_outputs=swapped_modules(default_layers),
    )


SD3 = _keymap("sd3", "STABLE_DIFFUSION_3", 24)  # SD3 Medium
SD35 = _keymap("sd35", "STABLE_DIFFUSION_35", 38)  # SD3.5 Large (Medium has 24 blocks; files carry the config)

KEYMAPS = (SD3, SD35)
