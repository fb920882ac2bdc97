"""The Qwen-Image autoencoder (a video VAE used on single frames): latents [B, C, 1, H/8, W/8],
normalised per channel with the means and standard deviations its config stores."""
from __future__ import annotations

import torch


def _channel_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(like.device, like.dtype)
    std = torch.tensor(vae.config.latents_std).view(shape).to(like.device, like.dtype)
    return mean, std


def normalise(vae, latents: torch.Tensor) -> torch.Tensor:
    mean, std = _channel_stats(vae, latents)
    return (latents - mean) / std


def denormalise(vae, latents: torch.Tensor) -> torch.Tensor:
    mean, std = _channel_stats(vae, latents)
    return latents * std + mean


def encode(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [B, 3, H, W] in [-1, 1] -> normalised posterior means [B, C, 1, H/8, W/8]."""
    with torch.no_grad():
        mean = vae.encode(pixels.to(vae.device, vae.dtype).unsqueeze(2)).latent_dist.mean
    return normalise(vae, mean)


def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents [B, C, 1, h, w] -> pixels [B, 3, H, W]."""
    return vae.decode(denormalise(vae, latents)).sample[:, :, 0]
