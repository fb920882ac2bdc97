"""Z-Image as data: one Qwen3 text encoder read through the chat template, a single-stream
flow-matching transformer that takes one latent and one caption tensor per sample, the 16-channel
Flux autoencoder. The text encoder only encodes: no adapter, no fine-tuning."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts, TokenSequence

FACTS = FamilyFacts(
    name="Z-Image",
    package="zimage",
    model_types=("Z_IMAGE",),
    parts=("transformer", "text_encoder", "vae"),
    denoiser="transformer",
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "qwen3", "lora_te", "qwen3_4b",
                                    conditioning_keys=("prompt_embeds",), trainable=False),),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"Z_IMAGE": "ZImagePipeline"},
    methods=("FINE_TUNE", "LORA"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "COMFY_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
    },
    reads=frozenset({
        "vae.model_name", "transformer.model_name", "text_encoder_sequence_length", "text_encoder_layer_skip", "dynamic_timestep_shifting",
    }),
    # the transformer reads each caption's unmasked tokens alone
    token_sequences=(TokenSequence(("prompt_embeds", "prompt_mask"), "prompt_mask"),),
)
