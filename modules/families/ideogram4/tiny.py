"""A random tiny Ideogram 4 model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import qwen3vl

LATENT_CHANNELS = 4
TEXT_WIDTH = 8


def tapped_layers() -> tuple[int, ...]:
    from diffusers.pipelines.ideogram4.pipeline_ideogram4 import QWEN3_VL_ACTIVATION_LAYERS

    return tuple(QWEN3_VL_ACTIVATION_LAYERS)


def tiny_transformer(seed: int):
    from diffusers import Ideogram4Transformer2DModel

    torch.manual_seed(seed)
    return Ideogram4Transformer2DModel(
        in_channels=LATENT_CHANNELS * 4, num_layers=2, attention_head_dim=8, num_attention_heads=2,
        intermediate_size=32, adaln_dim=16, llm_features_dim=len(tapped_layers()) * TEXT_WIDTH, rope_theta=10_000,
        mrope_section=(2, 1, 1))


def tiny_vae(seed: int):
    """An 8× autoencoder with batch-norm statistics over its 2×2-patched latents (not the identity,
    so that the normalisation is exercised)."""
    from diffusers import AutoencoderKLFlux2

    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=LATENT_CHANNELS, norm_num_groups=4, sample_size=32, use_quant_conv=False,
        use_post_quant_conv=False, mid_block_add_attention=False, patch_size=(2, 2))
    generator = torch.Generator().manual_seed(seed)
    vae.bn.running_mean.copy_(torch.randn(LATENT_CHANNELS * 4, generator=generator) * 0.1)
    vae.bn.running_var.copy_(torch.rand(LATENT_CHANNELS * 4, generator=generator) + 0.5)
    return vae.eval()


def build_tiny_ideogram4(out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, Ideogram4Pipeline

    tokenizer = qwen3vl.tiny_tokenizer()
    tokenizer.chat_template = qwen3vl.CONTENT_LIST_CHAT_TEMPLATE  # the pipeline sends content lists
    text_encoder = qwen3vl.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, layers=max(tapped_layers()) + 1, seed=seed + 1)
    pipe = Ideogram4Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=tiny_vae(seed), text_encoder=text_encoder,
                             tokenizer=tokenizer, transformer=tiny_transformer(seed + 2),
                             unconditional_transformer=tiny_transformer(seed + 3), prompt_enhancer_head=None)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
