"""A random tiny SD 1.x/2.x model of any variant, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from modules.config.enums import ModelType

from ..parts import clip
from ..parts import vae as vae_part


def build_tiny_sd(model_type: ModelType, out_dir, seed: int = 0) -> Path:
    import diffusers
    from diffusers import DDIMScheduler, UNet2DConditionModel

    v2 = model_type.is_sd_v2()
    # SD 2.x (non-base, non-inpainting, non-depth) predicts v; the 512 px base and special variants predict ε
    v_pred = model_type.value in ("STABLE_DIFFUSION_20", "STABLE_DIFFUSION_21")
    in_channels = 9 if model_type.has_mask_input() else 5 if model_type.has_depth_input() else 4
    tokenizer = clip.tiny_tokenizer(pad_token="!" if v2 else "<|endoftext|>")
    text_encoder = clip.tiny_text_model(tokenizer, seed=seed)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=in_channels, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4 if v2 else 8, norm_num_groups=4, use_linear_projection=v2)
    vae = vae_part.tiny(0.18215, seed)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1,
                              prediction_type="v_prediction" if v_pred else "epsilon")
    if model_type.has_depth_input():
        pipe = diffusers.StableDiffusionDepth2ImgPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                                          unet=unet, scheduler=scheduler, depth_estimator=None,
                                                          feature_extractor=None)
    else:
        cls = diffusers.StableDiffusionInpaintPipeline if model_type.has_mask_input() \
            else diffusers.StableDiffusionPipeline
        pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
