"""A random tiny Flux.1 dev / Fill dev model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, t5
from ..parts import vae as vae_part

LATENT_CHANNELS = 16


def build_tiny_flux(model_type, out_dir, seed: int = 0) -> Path:
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

    tokenizer = clip.tiny_tokenizer()
    text_encoder = clip.tiny_text_model(tokenizer, seed=seed)
    tokenizer_2 = t5.tiny_tokenizer()
    text_encoder_2 = t5.tiny_encoder(tokenizer_2, d_model=32, seed=seed + 1)
    vae = vae_part.tiny(0.3611, seed, latent_channels=LATENT_CHANNELS, shift_factor=0.1159)
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    packed = LATENT_CHANNELS * 4
    fill = model_type.has_mask_input()
    # Fill: packed noisy latents, packed masked-image latents, the pixel mask folded into vae_scale² channels
    in_channels = packed + (packed + vae_scale * vae_scale * 4 if fill else 0)
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, out_channels=packed, num_layers=2, num_single_layers=2,
        attention_head_dim=8, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[2, 2, 4], guidance_embeds=True)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    parts = dict(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                 text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
    if fill:
        pipe = diffusers.FluxFillPipeline(**parts)
    else:
        pipe = diffusers.FluxPipeline(**parts, image_encoder=None, feature_extractor=None)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
