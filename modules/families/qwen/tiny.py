"""A random tiny Qwen-Image model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import qwen25vl, qwen_image_vae

LATENT_CHANNELS = 16
TEXT_WIDTH = 32


def build_tiny_qwen(out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, QwenImagePipeline, QwenImageTransformer2DModel

    tokenizer = qwen25vl.tiny_tokenizer()
    text_encoder = qwen25vl.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, seed=seed + 1)
    vae = qwen_image_vae.tiny(seed, LATENT_CHANNELS)
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=LATENT_CHANNELS * 4, out_channels=LATENT_CHANNELS, num_layers=2,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=TEXT_WIDTH, axes_dims_rope=(4, 6, 6))
    # the Qwen-Image scheduler: dynamic shift between sequence lengths 256 and 8192
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
        base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential")
    pipe = QwenImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=transformer)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
