"""File-format names of Stable Diffusion 1.x and 2.x (CompVis / Stability LDM layout)."""
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

SD_UNET_LAYOUT = UNetLayout(layers_per_block=2, down_attention=(True, True, True, False),
                            up_attention=(False, True, True, True))

_UNET = SingleFileComponent("unet", "model.diffusion_model.", unet_to_original)
_VAE = SingleFileComponent("vae", "first_stage_model.", vae_to_original)


def _family(name, model_types, comfy_te_name, text_encoder_file, extra_metadata):
    return FamilyKeymap(
        name=name,
        model_types=frozenset(model_types),
        denoiser="unet",
        text_encoders=(clip_text_encoder("text_encoder", "lora_te", comfy_te_name, "emp_params", "clip_l"),),
        native_map=unet_native_map(SD_UNET_LAYOUT),
        native_roots=NATIVE_UNET_ROOTS,
        vocabulary=UNET_VOCABULARY | CLIP_VOCABULARY,
        kohya_native_denoiser=False,  # kohya trains SD 1/2 on the diffusers UNet and keeps its names
        has_legacy_lora=True,
        single_file=(_UNET, _VAE, text_encoder_file),
        pipelines={t: p for t, p in model_types.items()},
        extra_metadata=extra_metadata,
    )


SD1 = _family(
    "sd1",
    {"STABLE_DIFFUSION_15": "StableDiffusionPipeline",
     "STABLE_DIFFUSION_15_INPAINTING": "StableDiffusionInpaintPipeline"},
    "clip_l",
    SingleFileComponent("text_encoder", "cond_stage_model.transformer.", clip_to_original),
    {},
)

SD2 = _family(
    "sd2",
    {"STABLE_DIFFUSION_20": "StableDiffusionPipeline",
     "STABLE_DIFFUSION_20_BASE": "StableDiffusionPipeline",
     "STABLE_DIFFUSION_21": "StableDiffusionPipeline",
     "STABLE_DIFFUSION_21_BASE": "StableDiffusionPipeline",
     "STABLE_DIFFUSION_20_INPAINTING": "StableDiffusionInpaintPipeline",
     "STABLE_DIFFUSION_20_DEPTH": "StableDiffusionDepth2ImgPipeline"},
    "clip_h",
    SingleFileComponent("text_encoder", "cond_stage_model.model.", clip_to_open_clip),
    {"ss_v2": "True"},
)

KEYMAPS = (SD1, SD2)
