"""Stable Diffusion 1.x / 2.x as data: parts, text encoder, pipelines, presets, methods, formats."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

_FULL_FORMATS = ("DIFFUSERS", "ORIGINAL_SINGLE_FILE", "LEGACY_SAFETENSORS")

FACTS = FamilyFacts(
    name="Stable Diffusion 1.x / 2.x",
    package="sd",
    model_types=("STABLE_DIFFUSION_15", "STABLE_DIFFUSION_15_INPAINTING", "STABLE_DIFFUSION_20",
                 "STABLE_DIFFUSION_20_BASE", "STABLE_DIFFUSION_20_INPAINTING", "STABLE_DIFFUSION_20_DEPTH",
                 "STABLE_DIFFUSION_21", "STABLE_DIFFUSION_21_BASE"),
    parts=("unet", "text_encoder", "vae"),
    denoiser="unet",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "emp_params", "lora_te", "clip_l",
                                    conditioning_keys=("hidden",)),),
    objective="ddpm",
    latent_scale=8,
    bucket_quantum=8,
    pipelines={
        "STABLE_DIFFUSION_15": "StableDiffusionPipeline",
        "STABLE_DIFFUSION_15_INPAINTING": "StableDiffusionInpaintPipeline",
        "STABLE_DIFFUSION_20": "StableDiffusionPipeline",
        "STABLE_DIFFUSION_20_BASE": "StableDiffusionPipeline",
        "STABLE_DIFFUSION_20_INPAINTING": "StableDiffusionInpaintPipeline",
        "STABLE_DIFFUSION_20_DEPTH": "StableDiffusionDepth2ImgPipeline",
        "STABLE_DIFFUSION_21": "StableDiffusionPipeline",
        "STABLE_DIFFUSION_21_BASE": "StableDiffusionPipeline",
    },
    methods=("FINE_TUNE", "LORA", "EMBEDDING", "FINE_TUNE_VAE"),
    formats={
        "FINE_TUNE": _FULL_FORMATS,
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
        "FINE_TUNE_VAE": _FULL_FORMATS,
    },
    reads=frozenset({
        "vae.model_name", "text_encoder_layer_skip", "rescale_noise_scheduler_to_zero_terminal_snr",
        "force_v_prediction", "force_epsilon_prediction", "generalized_offset_noise",
    }),
)
