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


def tiny(seed: int = 0, latent_channels: int = 16):
    """The Qwen-Image autoencoder at a few kilobytes: 8 pixels per latent cell as the real one, with
    per-channel latent statistics that are not the identity."""
    from diffusers import AutoencoderKLQwenImage

    torch.manual_seed(seed)
    mean = [0.1 * ((i % 5) - 2) for i in range(latent_channels)]
    std = [1.0 + 0.25 * (i % 4) for i in range(latent_channels)]
    return AutoencoderKLQwenImage(base_dim=8, z_dim=latent_channels, dim_mult=[1, 1, 2, 2], num_res_blocks=1,
                                  temperal_downsample=[False, True, True], latents_mean=mean, latents_std=std)
