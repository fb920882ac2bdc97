"""PixArt-α and PixArt-Σ as data: one T5 text encoder, a DiT transformer on 2×2 latent patches that
predicts ε and a learned variance (DDPM), the 4-channel SD autoencoder."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="PixArt-α / PixArt-Σ",
    package="pixart",
    model_types=("PIXART_ALPHA", "PIXART_SIGMA"),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "t5", "lora_te1", "t5xxl", conditioning_keys=("t5",)),),
    objective="ddpm",
    latent_scale=8,
    bucket_quantum=16,
    pipelines={"PIXART_ALPHA": "PixArtAlphaPipeline", "PIXART_SIGMA": "PixArtSigmaPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "text_encoder_sequence_length", "text_encoder_layer_skip", "transformer.attention_mask",
        "vb_loss_strength", "rescale_noise_scheduler_to_zero_terminal_snr", "force_v_prediction",
        "force_epsilon_prediction", "generalized_offset_noise",
    }),
)
