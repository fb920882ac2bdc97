"""The image autoencoder: pixels ↔ scaled latents, and a tiny random one for tests."""
from __future__ import annotations

import torch


def encode(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] → (posterior mean − shift) · scale."""
    with torch.no_grad():
        mean = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (mean - shift) * vae.config.scaling_factor


def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return vae.decode(latents / vae.config.scaling_factor + shift).sample


def tiny(scaling_factor: float, seed: int = 0, latent_channels: int = 4, shift_factor: float | None = None):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    extra = {} if shift_factor is None else {"shift_factor": shift_factor}
    return AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         latent_channels=latent_channels, norm_num_groups=4, scaling_factor=scaling_factor,
                         sample_size=32, **extra)
