"""Qwen-Image as data: one Qwen2.5-VL text encoder, an MMDiT flow-matching transformer on packed 2×2
patches of a video-style VAE's single-frame latents ([B, C, 1, H, W], normalised per channel)."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts, TokenSequence

FACTS = FamilyFacts(
    name="Qwen-Image",
    package="qwen",
    model_types=("QWEN",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "qwen25_7b", "lora_te", "qwen25_7b",
                                    conditioning_keys=("prompt_embeds",)),),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"QWEN": "QwenImagePipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
    },
    reads=frozenset({"vae.model_name", "text_encoder_sequence_length", "dynamic_timestep_shifting"}),
    latent_dims=5,
    # zero and masked past each caption; the denoiser cuts a batch to its longest caption
    token_sequences=(TokenSequence(("prompt_embeds", "prompt_mask"), "prompt_mask"),),
)
