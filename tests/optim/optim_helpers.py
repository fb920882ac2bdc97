"""Tiny regression problem and config helpers shared by the optimizer tests."""
from __future__ import annotations

import torch

from modules.config.enums import Optimizer
from modules.config.train_config import TrainConfig


def config_for(optimizer: Optimizer, **overrides) -> TrainConfig:
    """Defaults with the optimizer's default parameter set applied (as the UI does)."""
    config = TrainConfig.default_values()
    config.change_optimizer(optimizer)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def regression_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 8, generator=generator)
    y = torch.tanh(x[:, :1] - 0.5 * x[:, 1:2])
    return x, y


def groups_for(model: torch.nn.Module, lr: float, prefix: str = 'block.') -> list[dict]:
    names, params = zip(*model.named_parameters(), strict=True)
    return [{'name': 'unet', 'params': list(params), 'lr': lr, 'param_names': [prefix + n for n in names]}]


def train_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    x, y = regression_batch()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(torch.nn.functional.mse_loss(model(x), y).item())
    return losses
