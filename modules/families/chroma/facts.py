"""Chroma1 as data: one T5 text encoder, a Flux-style flow-matching transformer on packed 2×2 latent
patches, without pooled or guidance inputs (a distilled approximator turns the timestep into the
modulation), the T5 padding masked in the transformer."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Chroma1",
    package="chroma",
    model_types=("CHROMA_1",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "t5", "lora_te1", "t5xxl", conditioning_keys=("t5",)),),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"CHROMA_1": "ChromaPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "transformer.model_name", "text_encoder_sequence_length", "text_encoder_layer_skip",
        "dynamic_timestep_shifting",
    }),
)
