"""A random tiny Ernie Image model, saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import mistral3

LATENT_CHANNELS = 4  # the autoencoder's; the transformer sees 2×2 patches of them
TEXT_WIDTH = 24  # not the transformer width, so that the text projection exists


def tiny_text_encoder(tokenizer, seed: int = 0):
    """A random `Mistral3Model` (the pipeline's text encoder class: no language head)."""
    from transformers import Mistral3Model

    config = mistral3.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, layers=3, seed=seed).config
    torch.manual_seed(seed)
    return Mistral3Model(config).eval()


def tiny_vae(seed: int = 0):
    """A two-level Flux 2 autoencoder whose BatchNorm statistics are not the identity."""
    from diffusers import AutoencoderKLFlux2

    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                             latent_channels=LATENT_CHANNELS, norm_num_groups=4, sample_size=32, use_quant_conv=False,
                             use_post_quant_conv=False)
    generator = torch.Generator().manual_seed(seed)
    channels = vae.bn.running_mean.numel()
    vae.bn.running_mean.copy_(torch.randn(channels, generator=generator) * 0.1)
    vae.bn.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
    return vae.eval()


def tiny_transformer(seed: int = 0):
    """Two blocks; the zero-initialised modulation and output projection get small random weights, as a
    trained model has (with them at zero the blocks would get no gradient)."""
    from diffusers import ErnieImageTransformer2DModel

    torch.manual_seed(seed)
    transformer = ErnieImageTransformer2DModel(
        hidden_size=32, num_attention_heads=2, num_layers=2, ffn_hidden_size=64, in_channels=LATENT_CHANNELS * 4,
        out_channels=LATENT_CHANNELS * 4, patch_size=1, text_in_dim=TEXT_WIDTH, rope_axes_dim=(4, 6, 6))
    generator = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for linear in (transformer.adaLN_modulation[-1], transformer.final_linear):
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.05)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=generator) * 0.05)
    return transformer


def build_tiny_ernie(out_dir, seed: int = 0) -> Path:
    from diffusers import ErnieImagePipeline, FlowMatchEulerDiscreteScheduler

    tokenizer = mistral3.tiny_tokenizer()
    text_encoder = tiny_text_encoder(tokenizer, seed + 1)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False,
                                                base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                                                max_image_seq_len=4096)
    pipe = ErnieImagePipeline(transformer=tiny_transformer(seed), vae=tiny_vae(seed), text_encoder=text_encoder,
                              tokenizer=tokenizer, scheduler=scheduler, pe=None, pe_tokenizer=None)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
