"""A random tiny SD 1.x/2.x model of any variant, saved as a diffusers folder."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from modules.config.enums import ModelType

from ..parts import clip
from ..parts import vae as vae_part
from ..parts.diffusers_io import published_class_name


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
        pipe = diffusers.StableDiffusionDepth2ImgPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            depth_estimator=tiny_depth_estimator(seed), feature_extractor=tiny_depth_processor())
    else:
        cls = diffusers.StableDiffusionInpaintPipeline if model_type.has_mask_input() \
            else diffusers.StableDiffusionPipeline
        pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    if model_type.has_depth_input():
        _name_published_processor(out, pipe.feature_extractor)
    return out


def _name_published_processor(out: Path, processor) -> None:
    """diffusers' `save_pretrained` names the processor's class as built (its PIL backend without
    torchvision); the published folder names the class the pipeline expects."""
    index_file = out / "model_index.json"
    index = json.loads(index_file.read_text())
    index["feature_extractor"] = ["transformers", published_class_name(processor)]
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


# the published depth model's estimator is a DPT-Hybrid at 384 px; a small plain ViT DPT at the tiny
# model's image size stands in for it
DEPTH_IMAGE_SIZE = 32


def tiny_depth_estimator(seed: int = 0):
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                       image_size=DEPTH_IMAGE_SIZE, patch_size=8, is_hybrid=False, backbone_out_indices=[0, 1, 2, 3],
                       neck_hidden_sizes=[4, 8, 16, 16], fusion_hidden_size=8,
                       # at the usual 0.02 the random head's output is all but constant, a degenerate depth map
                       initializer_range=0.2)
    torch.manual_seed(seed)
    return DPTForDepthEstimation(config).eval()


def tiny_depth_processor():
    """The published feature extractor's preprocessing (square resize, mean and std 0.5) at the tiny size."""
    from transformers import DPTImageProcessor

    return DPTImageProcessor(size={"height": DEPTH_IMAGE_SIZE, "width": DEPTH_IMAGE_SIZE}, keep_aspect_ratio=False,
                             image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
