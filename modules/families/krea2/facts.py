"""Krea 2 as data: a Qwen3-VL text encoder read at several layers, a single-stream flow-matching
transformer on packed 2×2 latent patches of the Qwen-Image autoencoder. Adapters train on the
transformer only (Krea 2 has no text-encoder adapter); no LEGACY_LORA layout."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Krea 2",
    package="krea2",
    model_types=("KREA_2",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "qwen3_vl", "lora_te", None,
                                    conditioning_keys=("prompt_embeds",), trainable=False),),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"KREA_2": "Krea2Pipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
    },
    reads=frozenset({"text_encoder_sequence_length", "dynamic_timestep_shifting"}),
)
