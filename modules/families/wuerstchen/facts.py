"""Würstchen v2 as data: a text-conditioned prior (`WuerstchenPrior`, one CLIP text encoder) that learns
EfficientNet image latents in continuous time (ε target, timestep ratio in [0, 1], cosine schedule),
and a frozen decoder stage (`WuerstchenDiffNeXt` with its own CLIP text encoder, Paella VQGAN) that
renders them. The model folders are described in `parts/stage_c.py`: ours name the moved Würstchen
classes by their module, so `DiffusionPipeline.from_pretrained` loads them (the tiny folder of
`python -m modules.cli.tiny_model` as `WuerstchenCombinedPipeline`); the released ones, whose index
diffusers 0.42 cannot resolve, load component by component."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Würstchen v2",
    package="wuerstchen",
    model_types=("WUERSTCHEN_2",),
    parts=("prior", "text_encoder", "effnet_encoder", "decoder", "decoder_text_encoder", "decoder_vqgan"),
    denoiser="prior",
    # ComfyUI has no name for this text encoder: COMFY_LORA files hold the prior only
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "clip_g", "lora_te", None,
                                    conditioning_keys=("clip_text",)),),
    objective="ddpm",
    latent_scale=32,  # the encoder's reduction; it reads the images at 3/4 size (42⅔ pixels per latent cell)
    bucket_quantum=128,
    pipelines={"WUERSTCHEN_2": "WuerstchenPriorPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS",),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({"prior.model_name", "effnet_encoder.model_name", "decoder.model_name"}),
)
