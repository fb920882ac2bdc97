"""Ernie Image as data: one Mistral 3 text encoder that is never trained, a single-stream
flow-matching transformer on BatchNorm-normalised 2×2 patches of a Flux 2 autoencoder's latents."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts, TokenSequence

FACTS = FamilyFacts(
    name="Ernie Image",
    package="ernie",
    model_types=("ERNIE",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "mistral", "lora_te", None,
                                    conditioning_keys=("text",), trainable=False),),
    objective="flow_matching",
    latent_scale=16,  # the autoencoder's 8× and the 2×2 patches
    bucket_quantum=64,
    pipelines={"ERNIE": "ErnieImagePipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
    },
    reads=frozenset({"vae.model_name", "text_encoder_sequence_length", "dynamic_timestep_shifting"}),
    # zero past each caption; the denoiser cuts a batch to its longest caption and masks by the counts
    token_sequences=(TokenSequence(("text",), "text_lens"),),
)
