"""A random tiny Würstchen v2 model in the combined layout (see `parts/stage_c.py`)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, effnet, stage_c

CLIP_WIDTH = 32
LATENT_CHANNELS = 16  # the effnet latents the prior learns


def build_tiny_wuerstchen(out_dir, seed: int = 0) -> Path:
    from diffusers import DDPMWuerstchenScheduler, WuerstchenCombinedPipeline
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel, WuerstchenDiffNeXt, WuerstchenPrior

    tokenizer = clip.tiny_tokenizer(pad_token="!")
    text_encoder = clip.tiny_text_model(tokenizer, hidden=CLIP_WIDTH, seed=seed + 1)
    decoder_text_encoder = clip.tiny_text_model(tokenizer, hidden=CLIP_WIDTH, seed=seed + 2)
    torch.manual_seed(seed)
    prior = WuerstchenPrior(c_in=LATENT_CHANNELS, c=32, depth=2, c_cond=CLIP_WIDTH, c_r=8, nhead=2).eval()
    # the prior predicts (x − a) / |1 − b| from its output head: a random head puts b near 1 and the
    # output in the thousands; a small one starts near the identity, as a trained prior's scale
    with torch.no_grad():
        prior.out[1].weight.mul_(0.01)
        prior.out[1].bias.zero_()
    torch.manual_seed(seed + 3)
    decoder = WuerstchenDiffNeXt(c_cond=CLIP_WIDTH, c_hidden=[32], nhead=[-1], blocks=[2], level_config=["CT"],
                                 clip_embd=CLIP_WIDTH, effnet_embd=LATENT_CHANNELS, inject_effnet=[False]).eval()
    torch.manual_seed(seed + 4)
    vqgan = PaellaVQModel(bottleneck_blocks=1, num_vq_embeddings=2).eval()
    pipe = WuerstchenCombinedPipeline(
        tokenizer=tokenizer, text_encoder=decoder_text_encoder, decoder=decoder, scheduler=DDPMWuerstchenScheduler(),
        vqgan=vqgan, prior_tokenizer=tokenizer, prior_text_encoder=text_encoder, prior_prior=prior,
        prior_scheduler=DDPMWuerstchenScheduler())
    out = Path(out_dir)
    pipe.save_pretrained(out)
    stage_c.record_moved_classes(out)
    effnet.tiny(seed + 5, LATENT_CHANNELS, mapper_affine=True).save_pretrained(out / "effnet_encoder")
    return out
