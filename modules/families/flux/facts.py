"""Flux.1 dev / Fill dev as data: CLIP-L (pooled) and T5 text encoders, a flow-matching transformer
on packed 2×2 latent patches, distilled guidance as an input."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

_FULL_FORMATS = ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS")

FACTS = FamilyFacts(
    name="Flux.1",
    package="flux",
    model_types=("FLUX_DEV_1", "FLUX_FILL_DEV_1"),
    parts=("transformer", "text_encoder", "text_encoder_2", "vae"),
    denoiser="transformer",
    text_encoders=(
        TextEncoderFacts("text_encoder", "tokenizer", "clip_l", "lora_te1", "clip_l", conditioning_keys=("pooled",),
                         optional=True),
        TextEncoderFacts("text_encoder_2", "tokenizer_2", "t5", "lora_te2", "t5xxl", conditioning_keys=("t5",),
                         optional=True),
    ),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"FLUX_DEV_1": "FluxPipeline", "FLUX_FILL_DEV_1": "FluxFillPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": _FULL_FORMATS,
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "transformer.model_name", "transformer.guidance_scale", "transformer.attention_mask",
        "text_encoder_2_sequence_length", "dynamic_timestep_shifting",
        "text_encoder.include", "text_encoder_2.include",
        "text_encoder.train_embedding", "text_encoder_2.train_embedding",
    }),
)
