"""Flux 2 as data: one LLM text encoder (Mistral 3 for dev, Qwen3 for Klein) whose intermediate
hidden states condition a flow-matching transformer on 2×2-patchified, batch-norm-normalised latents;
dev takes distilled guidance as an input. No text-encoder adapter trains."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Flux 2",
    package="flux2",
    model_types=("FLUX_2",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "text_encoder", "lora_te1", None,
                                    conditioning_keys=("prompt_embeds",), trainable=False),),
    objective="flow_matching",
    latent_scale=16,  # pixels per patchified latent cell: the VAE's 8, times the 2×2 patch
    bucket_quantum=64,
    # Klein folders name Flux2KleinPipeline; the family picks the pipeline from the loaded model
    pipelines={"FLUX_2": "Flux2Pipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
    },
    reads=frozenset({"transformer.guidance_scale", "text_encoder_sequence_length", "dynamic_timestep_shifting"}),
)
