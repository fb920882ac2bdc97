"""Ideogram 4 as data: a Qwen3-VL text encoder whose tapped layers condition a single-stream
flow-matching transformer on 2×2 patches of normalised latents, and a separate unconditional
transformer for the guidance branch that samples use and training leaves alone. The text encoder
never trains (no adapter, no fine-tuning)."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Ideogram 4",
    package="ideogram4",
    model_types=("IDEOGRAM_4",),
    parts=("transformer", "text_encoder", "unconditional_transformer", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "qwen3_vl", "lora_te", None,
                                    conditioning_keys=("text",), trainable=False),),
    objective="flow_matching",
    latent_scale=16,  # 8× VAE, then 2×2 latent patches as channels
    bucket_quantum=64,
    pipelines={"IDEOGRAM_4": "Ideogram4Pipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
    },
    reads=frozenset({
        "text_encoder_sequence_length", "dynamic_timestep_shifting", "unconditional_transformer.include",
    }),
)
