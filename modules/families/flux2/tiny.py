"""Random tiny Flux 2 models (dev with a Mistral 3 encoder, Klein with a Qwen3 encoder), saved as
diffusers folders."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import mistral3, qwen3

LATENT_CHANNELS = 4  # the VAE's channels (the real VAE: 32); the transformer sees 4 × that per token
TEXT_WIDTH = 16
TEXT_LAYERS = 4  # the transformer reads 3 of them (1, 2, 3), as the real models read 3 evenly spaced layers
VARIANTS = ("dev", "klein")


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKLFlux2

    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                             latent_channels=LATENT_CHANNELS, norm_num_groups=4, sample_size=32,
                             use_quant_conv=False, use_post_quant_conv=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # statistics other than (0, 1), so that the normalisation shows
        vae.bn.running_mean.copy_(torch.randn(vae.bn.running_mean.shape, generator=generator) * 0.1)
        vae.bn.running_var.copy_(torch.rand(vae.bn.running_var.shape, generator=generator) + 0.5)
    return vae.eval()


def build_tiny_flux2(out_dir, seed: int = 0, variant: str = "dev") -> Path:
    """A tiny Flux 2 `variant` ("dev": Flux2Pipeline with guidance input; "klein": Flux2KleinPipeline,
    not step-distilled, without guidance input)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Pipeline,
        Flux2Transformer2DModel,
    )

    if variant not in VARIANTS:
        raise ValueError(f"Flux 2 variant {variant!r}: expected one of {VARIANTS}")
    if variant == "dev":
        tokenizer = mistral3.tiny_tokenizer()
        text_encoder = mistral3.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, layers=TEXT_LAYERS, seed=seed + 1)
    else:
        tokenizer = qwen3.tiny_tokenizer()
        text_encoder = qwen3.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, layers=TEXT_LAYERS, seed=seed + 1,
                                          causal_lm=True)
    vae = tiny_vae(seed)
    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=2, num_single_layers=2, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=TEXT_WIDTH * 3, timestep_guidance_channels=32,
        axes_dims_rope=[2, 2, 2, 2], guidance_embeds=variant == "dev")
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    parts = dict(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)
    pipe = Flux2Pipeline(**parts) if variant == "dev" else Flux2KleinPipeline(**parts, is_distilled=False)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
