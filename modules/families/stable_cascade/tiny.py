"""A random tiny Stable Cascade model in the combined layout (see `parts/stage_c.py`)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, effnet, stage_c

CLIP_WIDTH = 32
LATENT_CHANNELS = 16  # the effnet latents the prior learns
CLIP_IMAGE_WIDTH = 768  # the prior's image-embedding input; training feeds zeros


def tiny_prior(seed: int = 0):
    from diffusers import StableCascadeUNet

    torch.manual_seed(seed)
    return StableCascadeUNet(
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, conditioning_dim=32, block_out_channels=(32, 32),
        num_attention_heads=(2, 2), down_num_layers_per_block=(1, 1), up_num_layers_per_block=(1, 1),
        switch_level=(False,), clip_image_in_channels=CLIP_IMAGE_WIDTH, clip_text_in_channels=CLIP_WIDTH,
        clip_text_pooled_in_channels=CLIP_WIDTH, dropout=(0.0, 0.0)).eval()


def tiny_decoder(seed: int = 0):
    from diffusers import StableCascadeUNet

    torch.manual_seed(seed)
    return StableCascadeUNet(
        in_channels=4, out_channels=4, conditioning_dim=32, block_out_channels=(16, 32), num_attention_heads=(-1, 2),
        down_num_layers_per_block=(1, 1), up_num_layers_per_block=(1, 1), down_blocks_repeat_mappers=(1, 1),
        up_blocks_repeat_mappers=(1, 1),
        block_types_per_layer=(("SDCascadeResBlock", "SDCascadeTimestepBlock"),
                               ("SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock")),
        switch_level=None, clip_text_pooled_in_channels=CLIP_WIDTH, effnet_in_channels=LATENT_CHANNELS,
        pixel_mapper_in_channels=3, dropout=(0.0, 0.0)).eval()


def build_tiny_stable_cascade(out_dir, seed: int = 0) -> Path:
    from diffusers import DDPMWuerstchenScheduler, StableCascadeCombinedPipeline
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    tokenizer = clip.tiny_tokenizer(pad_token="!")
    text_encoder = clip.tiny_text_model(tokenizer, hidden=CLIP_WIDTH, with_projection=True,
                                        projection_dim=CLIP_WIDTH, seed=seed + 1)
    torch.manual_seed(seed + 4)
    vqgan = PaellaVQModel(bottleneck_blocks=1, num_vq_embeddings=2).eval()
    pipe = StableCascadeCombinedPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, decoder=tiny_decoder(seed + 3),
        scheduler=DDPMWuerstchenScheduler(), vqgan=vqgan, prior_prior=tiny_prior(seed),
        prior_text_encoder=text_encoder, prior_tokenizer=tokenizer, prior_scheduler=DDPMWuerstchenScheduler())
    out = Path(out_dir)
    pipe.save_pretrained(out)
    stage_c.record_moved_classes(out)
    effnet.tiny(seed + 5, LATENT_CHANNELS, mapper_affine=False).save_pretrained(out / "effnet_encoder")
    return out
