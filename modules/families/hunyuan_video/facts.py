"""HunyuanVideo as data: a flow-matching video transformer conditioned on Llama hidden states (read
through a prompt template) and the pooled output of CLIP-L, with distilled guidance as an input;
latents from a causal 3-D autoencoder ([B, C, F, H, W], 4× fewer frames, 8× fewer pixels a side)."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="HunyuanVideo",
    package="hunyuan_video",
    model_types=("HUNYUAN_VIDEO",),
    parts=("transformer", "text_encoder", "text_encoder_2", "vae"),
    denoiser="transformer",
    text_encoders=(
        TextEncoderFacts("text_encoder", "tokenizer", "llama", "lora_te1", "llama", conditioning_keys=("llama",)),
        TextEncoderFacts("text_encoder_2", "tokenizer_2", "clip_l", "lora_te2", "clip_l",
                         conditioning_keys=("pooled",)),
    ),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"HUNYUAN_VIDEO": "HunyuanVideoPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "transformer.model_name", "text_encoder.model_name", "transformer.guidance_scale", "transformer.attention_mask",
        "frames", "sample_video_format",
        "text_encoder.train_embedding", "text_encoder_2.train_embedding",
    }),
    latent_dims=5,
)
