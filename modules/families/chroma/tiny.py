"""A random tiny Chroma1 model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import t5
from ..parts import vae as vae_part

LATENT_CHANNELS = 16
T5_WIDTH = 32


def build_tiny_chroma(out_dir, seed: int = 0) -> Path:
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = t5.tiny_tokenizer()
    text_encoder = t5.tiny_encoder(tokenizer, d_model=T5_WIDTH, seed=seed + 1)
    vae = vae_part.tiny(0.3611, seed, latent_channels=LATENT_CHANNELS, shift_factor=0.1159)
    vae.register_to_config(use_quant_conv=False, use_post_quant_conv=False)  # as Flux's autoencoder
    vae.quant_conv = vae.post_quant_conv = None
    torch.manual_seed(seed)
    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=2, num_single_layers=2, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=T5_WIDTH, axes_dims_rope=[2, 2, 4], approximator_num_channels=16,
        approximator_hidden_dim=32, approximator_layers=2)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = ChromaPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer, image_encoder=None, feature_extractor=None)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
