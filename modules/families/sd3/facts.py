"""Stable Diffusion 3 and 3.5 as data: an MMDiT transformer, CLIP-L, CLIP-G and an optional T5."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

MODEL_TYPES = ("STABLE_DIFFUSION_3", "STABLE_DIFFUSION_35")

FACTS = FamilyFacts(
    name="Stable Diffusion 3",
    package="sd3",
    model_types=MODEL_TYPES,
    parts=("transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "vae"),
    denoiser="transformer",
    text_encoders=(
        TextEncoderFacts("text_encoder", "tokenizer", "clip_l", "lora_te1", "clip_l",
                         conditioning_keys=("hidden_1", "pooled_1")),
        TextEncoderFacts("text_encoder_2", "tokenizer_2", "clip_g", "lora_te2", "clip_g",
                         conditioning_keys=("hidden_2", "pooled_2")),
        # left out (`include` off) it contributes zeros, as the diffusers pipeline does without it
        TextEncoderFacts("text_encoder_3", "tokenizer_3", "t5", "lora_te3", "t5xxl",
                         conditioning_keys=("hidden_3",), optional=True),
    ),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={t: "StableDiffusion3Pipeline" for t in MODEL_TYPES},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_SINGLE_FILE", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "text_encoder_layer_skip", "text_encoder_2_layer_skip",
        "text_encoder.train_embedding", "text_encoder_2.train_embedding", "text_encoder_3.train_embedding",
        "text_encoder_3.include",
    }),
)
