"""The flow-matching objective (spec §9.2–9.4): σ from the discrete timestep, static or dynamic shift,
x_t = σ·noise + (1 − σ)·x₀ and the velocity target noise − x₀."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .noise import sample_noise
from .prediction import Prediction


def sigmas(timesteps: torch.Tensor, num_train_timesteps: int) -> torch.Tensor:
    """σ = (t + 1) / T for discrete t in [0, T − 1], in float32: the float32 quotient of these integers
    is their float64 one rounded, so float64 would only add conversions (each an op, every step)."""
    return (timesteps + 1) / num_train_timesteps


def dynamic_shift(scheduler_config: Mapping, latent_height: int, latent_width: int, patch: int = 2) -> float:
    """exp(μ), μ linear in the image's token count between the scheduler's base and max sequence lengths."""
    base_shift = float(scheduler_config.get("base_shift", 0.5))
    max_shift = float(scheduler_config.get("max_shift", 1.15))
    base_seq = float(scheduler_config.get("base_image_seq_len", 256))
    max_seq = float(scheduler_config.get("max_image_seq_len", 4096))
    seq = (latent_height // patch) * (latent_width // patch)
    slope = (max_shift - base_shift) / (max_seq - base_seq)
    return math.exp(base_shift + slope * (seq - base_seq))


def shift_for(config, scheduler_config: Mapping, latents: torch.Tensor, patch: int = 2) -> float:
    """The shift of this batch: dynamic (by resolution) when switched on, else `timestep_shift`."""
    if getattr(config, "dynamic_timestep_shifting", False):
        return dynamic_shift(scheduler_config, latents.shape[-2], latents.shape[-1], patch)
    return float(config.timestep_shift)


def noised(latents: torch.Tensor, config, generator: torch.Generator, sigma: torch.Tensor):
    """(noise, x_t) for per-sample σ."""
    noise = sample_noise(latents, config, generator)
    s = sigma.to(latents.device, torch.float32).view(-1, *([1] * (latents.ndim - 1)))
    # x₀ + σ·(noise − x₀) in one op (instead of four and their temporaries)
    return noise, torch.lerp(latents.float(), noise.float(), s).to(latents.dtype)


def prediction(latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, sigma: torch.Tensor,
               predicted: torch.Tensor) -> Prediction:
    return Prediction(predicted=predicted, target=noise - latents, timesteps=timesteps, sigma=sigma.float(),
                      flow_matching=True)
