"""Anima as data: a Qwen3 text encoder whose last hidden state the Anima text conditioner (an LLM
adapter reading T5 token ids as queries) turns into the text input of a Cosmos Predict2 transformer
on single-frame latents of the Qwen-Image autoencoder. Flow matching with a dynamic shift; the
text encoder is never trained."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Anima",
    package="anima",
    model_types=("ANIMA",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "qwen3", "lora_te", None,
                                    conditioning_keys=("prompt_embeds",), trainable=False),),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"ANIMA": "AnimaModularPipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
    },
    reads=frozenset({"vae.model_name", "text_encoder_sequence_length", "dynamic_timestep_shifting"}),
    latent_dims=5,
)
