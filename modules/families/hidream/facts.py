"""HiDream-I1 Full as data: a mixture-of-experts flow-matching transformer conditioned on the pooled
outputs of CLIP-L and CLIP-G, the last T5 hidden state and the hidden states of every Llama layer."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="HiDream-I1",
    package="hidream",
    model_types=("HI_DREAM_FULL",),
    parts=("transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "text_encoder_4", "vae"),
    denoiser="transformer",
    # each encoder may be left out (`include` off): its share of the conditioning is zeros
    text_encoders=(
        TextEncoderFacts("text_encoder", "tokenizer", "clip_l", "lora_te1", "clip_l",
                         conditioning_keys=("pooled_1",), optional=True),
        TextEncoderFacts("text_encoder_2", "tokenizer_2", "clip_g", "lora_te2", "clip_g",
                         conditioning_keys=("pooled_2",), optional=True),
        TextEncoderFacts("text_encoder_3", "tokenizer_3", "t5", "lora_te3", "t5xxl",
                         conditioning_keys=("t5",), optional=True),
        TextEncoderFacts("text_encoder_4", "tokenizer_4", "llama", "lora_te4", "llama",
                         conditioning_keys=("llama",), optional=True),
    ),
    objective="flow_matching",
    latent_scale=8,
    bucket_quantum=64,
    pipelines={"HI_DREAM_FULL": "HiDreamImagePipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({
        "vae.model_name", "text_encoder_4.model_name",
        "text_encoder.include", "text_encoder_2.include", "text_encoder_3.include", "text_encoder_4.include",
        "text_encoder.train_embedding", "text_encoder_2.train_embedding", "text_encoder_3.train_embedding",
        "text_encoder_4.train_embedding",
    }),
)
