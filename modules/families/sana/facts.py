"""Sana as data: one Gemma 2 text encoder read behind Sana's complex human instruction, a linear-attention
flow-matching transformer on the latents of a deep-compression autoencoder (32 pixels per latent cell)."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Sana",
    package="sana",
    model_types=("SANA",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    # ComfyUI has no name for Sana's text encoder: COMFY_LORA files hold the transformer only
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "gemma", "lora_te", None,
                                    conditioning_keys=("prompt_embeds",)),),
    objective="flow_matching",
    latent_scale=32,
    bucket_quantum=32,
    pipelines={"SANA": "SanaPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS",),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({"vae.model_name", "text_encoder_sequence_length"}),
)
