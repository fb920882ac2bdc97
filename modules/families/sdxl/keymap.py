"""File-format names of Stable Diffusion XL (Stability SGM layout)."""
from __future__ import annotations

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.families.parts.ldm_layout import (
    NATIVE_UNET_ROOTS,
    UNET_VOCABULARY,
    UNetLayout,
    clip_to_open_clip,
    clip_to_original,
    unet_native_map,
    unet_to_original,
    vae_to_original,
)
from modules.formats.keymap import FamilyKeymap, SingleFileComponent

SDXL_UNET_LAYOUT = UNetLayout(layers_per_block=2, down_attention=(False, True, True),
                              up_attention=(True, True, False))

SDXL = FamilyKeymap(
    name="sdxl",
    model_types=frozenset({"STABLE_DIFFUSION_XL_10_BASE", "STABLE_DIFFUSION_XL_10_BASE_INPAINTING"}),
    denoiser="unet",
    text_encoders=(
        clip_text_encoder("text_encoder", "lora_te1", "clip_l", "clip_l", "clip_l"),
        clip_text_encoder("text_encoder_2", "lora_te2", "clip_g", "clip_g", "clip_g"),
    ),
    native_map=unet_native_map(SDXL_UNET_LAYOUT),
    native_roots=NATIVE_UNET_ROOTS,
    vocabulary=UNET_VOCABULARY | CLIP_VOCABULARY,
    kohya_native_denoiser=True,  # kohya trains SDXL on the SGM UNet
    has_legacy_lora=True,
    single_file=(
        SingleFileComponent("unet", "model.diffusion_model.", unet_to_original),
        SingleFileComponent("vae", "first_stage_model.", vae_to_original),
        SingleFileComponent("text_encoder", "conditioner.embedders.0.transformer.", clip_to_original),
        SingleFileComponent("text_encoder_2", "conditioner.embedders.1.model.", clip_to_open_clip),
    ),
    pipelines={"STABLE_DIFFUSION_XL_10_BASE": "StableDiffusionXLPipeline",
               "STABLE_DIFFUSION_XL_10_BASE_INPAINTING": "StableDiffusionXLInpaintPipeline"},
    extra_metadata={"ss_base_model_version": "sdxl_"},
)

KEYMAPS = (SDXL,)
