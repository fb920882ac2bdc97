"""A random tiny PixArt-α or PixArt-Σ model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import t5
from ..parts import vae as vae_part

T5_WIDTH = 32


def build_tiny_pixart(alpha: bool, out_dir, seed: int = 0) -> Path:
    from diffusers import (
        DPMSolverMultistepScheduler,
        PixArtAlphaPipeline,
        PixArtSigmaPipeline,
        PixArtTransformer2DModel,
    )

    tokenizer = t5.tiny_tokenizer()
    text_encoder = t5.tiny_encoder(tokenizer, d_model=T5_WIDTH, seed=seed + 1)
    vae = vae_part.tiny(0.18215, seed)
    torch.manual_seed(seed)
    # α-1024 has resolution and aspect-ratio embeddings, which the pipeline feeds only at sample_size 128
    transformer = PixArtTransformer2DModel(
        sample_size=128 if alpha else 16, num_layers=2, patch_size=2, attention_head_dim=8, num_attention_heads=3,
        caption_channels=T5_WIDTH, in_channels=4, out_channels=8, cross_attention_dim=24, attention_bias=True,
        activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
        norm_elementwise_affine=False, norm_eps=1e-6, use_additional_conditions=alpha)
    scheduler = DPMSolverMultistepScheduler(beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
    cls = PixArtAlphaPipeline if alpha else PixArtSigmaPipeline
    pipe = cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
