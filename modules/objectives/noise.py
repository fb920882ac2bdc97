"""Training noise (spec §9.1): Gaussian noise with optional offset, generalized offset and perturbation."""
from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def _generalized_offset_psi(betas: tuple[float, ...]) -> torch.Tensor:
    """ψ_t of the 'balanced' generalized offset noise, from the beta schedule (float64)."""
    b = torch.tensor(betas, dtype=torch.float64)
    alphas = 1 - b
    ac = torch.cumprod(alphas, 0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    T = len(betas)
    gamma = torch.zeros(T, dtype=torch.float64)
    gamma[0] = 1.0
    running = gamma[0] / torch.sqrt(ac_prev[0])
    for t in range(1, T):
        c = (1 - alphas[t]) * torch.sqrt(ac_prev[t]) / (alphas[t] * (1 - ac_prev[t]))
        gamma[t] = c * running
        running = running + gamma[t] / torch.sqrt(ac_prev[t])
    total = torch.cumsum(gamma / torch.sqrt(ac_prev), 0)
    gamma = gamma / (total[-1] / torch.sqrt(1 - ac[-1]))
    return torch.cumsum(gamma / torch.sqrt(ac_prev), 0) / torch.sqrt(1 - ac)


def sample_noise(latents: torch.Tensor, config, generator: torch.Generator, timesteps: torch.Tensor | None = None,
                 betas: torch.Tensor | None = None) -> torch.Tensor:
    shape, dtype = latents.shape, torch.float32
    noise = torch.randn(shape, generator=generator, dtype=dtype)
    if config.offset_noise_weight > 0:
        offset = torch.randn((*shape[:2], *([1] * (len(shape) - 2))), generator=generator, dtype=dtype)
        if config.generalized_offset_noise and betas is not None and timesteps is not None:
            psi = _generalized_offset_psi(tuple(betas.double().tolist()))[timesteps.cpu()].float()
            offset = offset * psi.view(-1, *([1] * (len(shape) - 1)))
        noise = noise + config.offset_noise_weight * offset
    if config.perturbation_noise_weight > 0:
        noise = noise + config.perturbation_noise_weight * torch.randn(shape, generator=generator, dtype=dtype)
    return noise.to(device=latents.device, dtype=latents.dtype)
