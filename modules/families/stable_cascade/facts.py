"""Stable Cascade as data: a text-conditioned prior (`StableCascadeUNet`, stage C) on one CLIP text
encoder with projection (hidden states and the pooled embedding) that learns EfficientNet image latents
in continuous time (ε target, timestep ratio in [0, 1], cosine schedule), and a frozen decoder stage
(a second `StableCascadeUNet`, stage B, and the Paella VQGAN, stage A) that renders them with the same
text encoder. The model folders are described in `parts/stage_c.py`: ours name the moved `PaellaVQModel`
class by its module, so `DiffusionPipeline.from_pretrained` loads them (the tiny folder of
`python -m modules.cli.tiny_model` as `StableCascadeCombinedPipeline`); the released decoder folder, whose
index diffusers 0.42 cannot resolve, loads component by component."""
from __future__ import annotations

from ..base import FamilyFacts, TextEncoderFacts

FACTS = FamilyFacts(
    name="Stable Cascade",
    package="stable_cascade",
    model_types=("STABLE_CASCADE_1",),
    parts=("prior", "text_encoder", "effnet_encoder", "decoder", "decoder_vqgan"),
    denoiser="prior",
    # ComfyUI has no name for this text encoder: COMFY_LORA files hold the prior only
    text_encoders=(TextEncoderFacts("text_encoder", "tokenizer", "clip_g", "lora_te", None,
                                    conditioning_keys=("clip_text", "clip_text_pooled")),),
    objective="ddpm",
    latent_scale=32,  # the encoder's reduction; it reads the images at 3/4 size (42⅔ pixels per latent cell)
    bucket_quantum=128,
    pipelines={"STABLE_CASCADE_1": "StableCascadePriorPipeline"},
    methods=("FINE_TUNE", "LORA", "EMBEDDING"),
    formats={
        "FINE_TUNE": ("DIFFUSERS", "LEGACY_SAFETENSORS"),
        "LORA": ("DIFFUSERS_LORA", "KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA", "LEGACY_LORA"),
        "EMBEDDING": ("SAFETENSORS",),
    },
    reads=frozenset({"prior.model_name", "effnet_encoder.model_name", "decoder.model_name"}),
)
