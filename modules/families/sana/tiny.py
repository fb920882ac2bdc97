"""A random tiny Sana model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import gemma

LATENT_CHANNELS = 4
GEMMA_WIDTH = 16


def tiny_autoencoder(seed: int = 0):
    """A two-stage deep-compression autoencoder (2 pixels per latent cell) with Sana's scaling factor."""
    from diffusers import AutoencoderDC

    torch.manual_seed(seed)
    return AutoencoderDC(
        in_channels=3, latent_channels=LATENT_CHANNELS, attention_head_dim=2,
        encoder_block_types=("ResBlock", "EfficientViTBlock"), decoder_block_types=("ResBlock", "EfficientViTBlock"),
        encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
        encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
        encoder_layers_per_block=(1, 1), decoder_layers_per_block=(1, 1), downsample_block_type="conv",
        upsample_block_type="interpolate", decoder_norm_types="rms_norm", decoder_act_fns="silu",
        scaling_factor=0.41407)


def build_tiny_sana(out_dir, seed: int = 0) -> Path:
    from diffusers import DPMSolverMultistepScheduler, SanaPipeline, SanaTransformer2DModel

    tokenizer = gemma.tiny_tokenizer()
    text_encoder = gemma.tiny_encoder(tokenizer, hidden=GEMMA_WIDTH, seed=seed + 1)
    vae = tiny_autoencoder(seed)
    torch.manual_seed(seed)
    transformer = SanaTransformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, num_layers=2, num_attention_heads=2,
        attention_head_dim=8, num_cross_attention_heads=2, cross_attention_head_dim=8, cross_attention_dim=16,
        caption_channels=GEMMA_WIDTH, sample_size=16)
    # as Sana's released checkpoints: DPM-Solver on flow sigmas with a static shift
    scheduler = DPMSolverMultistepScheduler(flow_shift=3.0, use_flow_sigmas=True, prediction_type="flow_prediction")
    pipe = SanaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                        scheduler=scheduler)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
