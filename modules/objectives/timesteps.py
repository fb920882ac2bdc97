"""Training-timestep sampling shared by every objective (discrete timesteps in [0, T)).

Each batch draws from its own generator, so a run is reproducible step by step (and after a resume).
The shift may change per batch (dynamic shifting by resolution), so the weighted distributions keep
one probability vector per shift value.
"""
from __future__ import annotations

import math

import torch

from modules.config.enums import TimestepDistribution


def _shift_continuous(t: torch.Tensor, shift: float, T: int) -> torch.Tensor:
    return T * shift * t / ((shift - 1) * t + T)


def _weighted_probabilities(dist: str, n: int, shift: float, weight: float, bias: float) -> torch.Tensor:
    x = torch.linspace(0, 1, n, dtype=torch.float64) if n > 1 else torch.zeros(1, dtype=torch.float64)

    def mapped(v):
        return v / (shift - shift * v + v)

    x_hat = mapped(x)
    density = shift / (shift + x - shift * x) ** 2
    if dist == "COS_MAP":
        w = 2 / (math.pi - 2 * math.pi * x_hat + 2 * math.pi * x_hat**2)
    elif dist == "SIGMOID":  # the shift mapping is applied twice, as OneTrainer does
        w = torch.sigmoid(weight * (mapped(x_hat) - (bias + 0.5)))
    else:  # INVERTED_PARABOLA
        w = torch.clamp(-weight * (x_hat - (bias + 0.5)) ** 2 + 2, min=0)
    w = (w * density).clamp(min=0)
    return (w / w.sum()).float()


_WEIGHTED = {"COS_MAP", "SIGMOID", "INVERTED_PARABOLA"}


class TimestepSampler:
    """Draws integer timesteps in [t_min, t_max) for one training run."""

    def __init__(self, config, num_train_timesteps: int):
        self.T = num_train_timesteps
        self.distribution = TimestepDistribution(config.timestep_distribution).value
        self.t_min = int(self.T * config.min_noising_strength)
        self.t_max = int(self.T * config.max_noising_strength)
        self.weight = float(config.noising_weight)
        self.bias = float(config.noising_bias)
        self.shift = float(config.timestep_shift)
        self._probabilities: dict[float, torch.Tensor] = {}  # per shift: dynamic shifting varies it by batch

    def sample(self, batch_size: int, generator: torch.Generator, deterministic: bool = False,
               shift: float | None = None) -> torch.Tensor:
        if deterministic:
            return torch.full((batch_size,), int(self.T * 0.5) - 1, dtype=torch.long)
        s = self.shift if shift is None else shift
        n = max(self.t_max - self.t_min, 1)
        if self.distribution in _WEIGHTED:
            probabilities = self._probabilities.get(s)
            if probabilities is None:
                probabilities = _weighted_probabilities(self.distribution, n, s, self.weight, self.bias)
                if len(self._probabilities) < 64:  # a handful of bucket resolutions; never unbounded
                    self._probabilities[s] = probabilities
            idx = torch.multinomial(probabilities, batch_size, replacement=True, generator=generator)
            return (idx + self.t_min).clamp(max=self.T - 1)
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        if self.distribution == "UNIFORM":
            t = u.mul_(n).add_(self.t_min) if self.t_min else u.mul_(n)
            if s == 1.0 and self.t_min + n <= self.T:  # t_min + n·u, u in [0, 1): in range without a clamp
                return t.long()
        elif self.distribution == "LOGIT_NORMAL":
            z = torch.randn(batch_size, generator=generator, dtype=torch.float64) * (self.weight + 1) + self.bias
            t = torch.sigmoid(z) * n + self.t_min
        elif self.distribution == "HEAVY_TAIL":
            v = 1 - u - self.weight * (torch.cos(math.pi / 2 * u) ** 2 - 1 + u)
            t = v * n + self.t_min
        else:  # BETA
            a, b = max(1e-4, self.weight), max(1e-4, self.bias)
            if abs(b - 1) < 1e-6:
                v = u ** (1 / a)
            elif abs(a - 1) < 1e-6:
                v = 1 - u ** (1 / b)
            else:
                v = torch.distributions.Beta(a, b).sample((batch_size,)).double()
            t = v * n + self.t_min
        if s != 1.0:
            t = _shift_continuous(t, s, self.T)
        return t.long().clamp(0, self.T - 1)
