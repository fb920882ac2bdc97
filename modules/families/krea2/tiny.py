"""A random tiny Krea 2 model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import qwen3vl
from .family import TEMPLATE_WORDS

LATENT_CHANNELS = 16
TEXT_WIDTH = 16
TEXT_LAYERS = (1, 2, 3)  # the encoder's hidden states the transformer reads (0 is the embedding output)


def tiny_vae(seed: int = 0):
    """A Qwen-Image autoencoder with 8× spatial compression at a few kilobytes."""
    from diffusers import AutoencoderKLQwenImage

    torch.manual_seed(seed)
    return AutoencoderKLQwenImage(base_dim=16, z_dim=LATENT_CHANNELS, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                  temperal_downsample=[False, True, True],
                                  latents_mean=[0.05 * (i - 8) for i in range(LATENT_CHANNELS)],
                                  latents_std=[1.0 + 0.1 * i for i in range(LATENT_CHANNELS)])


def build_tiny_krea2(out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, Krea2Pipeline, Krea2Transformer2DModel

    tokenizer = qwen3vl.tiny_tokenizer(TEMPLATE_WORDS)
    text_encoder = qwen3vl.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, layers=max(TEXT_LAYERS), seed=seed + 1)
    vae = tiny_vae(seed)
    torch.manual_seed(seed)
    transformer = Krea2Transformer2DModel(
        in_channels=LATENT_CHANNELS * 4, num_layers=2, attention_head_dim=8, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=32, timestep_embed_dim=16, text_hidden_dim=TEXT_WIDTH,
        num_text_layers=len(TEXT_LAYERS), text_num_attention_heads=2, text_num_key_value_heads=2,
        text_intermediate_size=32, num_layerwise_text_blocks=1, num_refiner_text_blocks=2, axes_dims_rope=(2, 2, 4))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=6400)
    pipe = Krea2Pipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                         transformer=transformer, text_encoder_select_layers=TEXT_LAYERS)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
