"""A random tiny SDXL (base or inpainting) model saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip
from ..parts import vae as vae_part


def build_tiny_sdxl(model_type, out_dir, seed: int = 0) -> Path:
    import diffusers
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel

    tokenizer, tokenizer_2 = clip.tiny_tokenizer(), clip.tiny_tokenizer(pad_token="!")
    text_encoder = clip.tiny_text_model(tokenizer, seed=seed)
    # the second encoder is wider, as in the real model: diffusers tells the two apart by width when it
    # loads a single-file checkpoint
    text_encoder_2 = clip.tiny_text_model(tokenizer_2, hidden=48, with_projection=True, projection_dim=48, seed=seed + 1)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16,
        in_channels=9 if model_type.has_mask_input() else 4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 48, cross_attention_dim=32 + 48, norm_num_groups=4)
    vae = vae_part.tiny(0.13025, seed)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="leading", steps_offset=1)
    cls = diffusers.StableDiffusionXLInpaintPipeline if model_type.has_mask_input() \
        else diffusers.StableDiffusionXLPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
               tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler, image_encoder=None, feature_extractor=None,
               add_watermarker=False)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
