"""Stable Diffusion XL 1.0 as data: two CLIP encoders, pooled text embeds, size conditioning."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

_FULL_FORMATS = ("DIFFUSERS", "ORIGINAL_SINGLE_FILE", "LEGACY_SAFETENSORS")

FACTS = FamilyFacts(
    name="Stable Diffusion XL",
    package="sdxl",
    model_types=("STABLE_DIFFUSION_XL_10_BASE", "STABLE_DIFFUSION_XL_10_BASE_INPAINTING"),
    parts=("unet", "text_encoder", "text_encoder_2", "vae"),
    denoiser="unet",
    text_encoders=(
        TextEncoderFacts("text_encoder", "tokenizer", "clip_l", "lora_te1", "clip_l", conditioning_keys=("hidden_1",),
                         optional=True),
        TextEncoderFacts("text_encoder_2", "tokenizer_2", "clip_g", "lora_te2", "clip_g",
                         conditioning_keys=("hidden_2", "pooled"), optional=True),
    ),
    objective="ddpm",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"STABLE_DIFFUSION_XL_10_BASE": "StableDiffusionXLPipeline",
               "STABLE_DIFFUSION_XL_10_BASE_INPAINTING": "StableDiffusionXLInpaintPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": _FULL_FORMATS,
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "text_encoder_layer_skip", "text_encoder_2_layer_skip",
        "rescale_noise_scheduler_to_zero_terminal_snr", "force_v_prediction", "force_epsilon_prediction",
        "generalized_offset_noise", "text_encoder_2.train_embedding", "text_encoder.train_embedding",
        "text_encoder.include", "text_encoder_2.include",
    }),
)
