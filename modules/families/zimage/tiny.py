"""A random tiny Z-Image model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import qwen3
from ..parts import vae as vae_part

LATENT_CHANNELS = 16
TEXT_WIDTH = 32


def tiny_transformer(seed: int = 0, cap_feat_dim: int = TEXT_WIDTH):
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(seed)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=LATENT_CHANNELS, dim=32, n_layers=2,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True, cap_feat_dim=cap_feat_dim,
        rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 4, 4], axes_lens=[256, 32, 32])
    with torch.no_grad():  # the padding tokens are created uninitialised
        transformer.x_pad_token.copy_(torch.randn(transformer.x_pad_token.shape) * 0.02)
        transformer.cap_pad_token.copy_(torch.randn(transformer.cap_pad_token.shape) * 0.02)
    return transformer


def build_tiny_zimage(out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline

    tokenizer = qwen3.tiny_tokenizer()
    text_encoder = qwen3.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, seed=seed + 1)
    vae = vae_part.tiny(0.3611, seed, latent_channels=LATENT_CHANNELS, shift_factor=0.1159)
    vae.register_to_config(use_quant_conv=False, use_post_quant_conv=False)  # as Flux's autoencoder
    vae.quant_conv = vae.post_quant_conv = None
    transformer = tiny_transformer(seed)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=False, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
