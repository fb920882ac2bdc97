"""A random tiny HunyuanVideo model, saved as a diffusers folder: a Llama encoder deep enough that the
layer the pipeline reads (the third from last hidden state) passes through a trained layer, CLIP-L, a
causal 3-D autoencoder with the real compression (8× a side, 4× in time) and a two-block transformer."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, llama

LATENT_CHANNELS = 4
LLAMA_HIDDEN = 16
CLIP_HIDDEN = 8
# long enough for the prompt template and the pipeline's 256 caption tokens
TOKENIZER_LENGTH = 1024


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKLHunyuanVideo

    torch.manual_seed(seed)
    return AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4, up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu", norm_num_groups=4,
        scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
        mid_block_add_attention=True)


def tiny_transformer(seed: int = 0):
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(seed)
    return HunyuanVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, num_attention_heads=2, attention_head_dim=8,
        num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1,
        guidance_embeds=True, text_embed_dim=LLAMA_HIDDEN, pooled_projection_dim=CLIP_HIDDEN,
        rope_axes_dim=(2, 2, 4))


def build_tiny_hunyuan_video(out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline

    tokenizer = llama.tiny_tokenizer(max_length=TOKENIZER_LENGTH)
    text_encoder = llama.tiny_encoder(tokenizer, hidden=LLAMA_HIDDEN, layers=3, seed=seed, causal_lm=False)
    tokenizer_2 = clip.tiny_tokenizer()
    text_encoder_2 = clip.tiny_text_model(tokenizer_2, hidden=CLIP_HIDDEN, seed=seed + 1)
    pipe = HunyuanVideoPipeline(text_encoder=text_encoder, tokenizer=tokenizer, transformer=tiny_transformer(seed),
                                vae=tiny_vae(seed), scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                                text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
