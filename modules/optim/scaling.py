"""Learning-rate and loss scaling by batch size / gradient accumulation, and group construction."""
from __future__ import annotations

import math
from collections.abc import Iterable

from modules.config.enums import LearningRateScaler, LossScaler


def learning_rate_scale(train_config, world_size: int = 1) -> float:
    """Factor every group LR is multiplied by: sqrt of the scaler's batch/accumulation product."""
    scaler = LearningRateScaler(train_config.learning_rate_scaler)
    return math.sqrt(scaler.get_scale(train_config.batch_size, train_config.gradient_accumulation_steps, world_size))


def loss_scale(train_config, world_size: int = 1) -> float:
    """Factor each sample's loss is multiplied by before the batch mean."""
    scaler = LossScaler(train_config.loss_scaler)
    return float(scaler.get_scale(train_config.batch_size, train_config.gradient_accumulation_steps, world_size))


def make_parameter_group(
    name: str,
    params: Iterable,
    train_config,
    learning_rate: float | None = None,
    param_names: list[str] | None = None,
    world_size: int = 1,
) -> dict:
    """A param-group dict as the optimizers here expect it: the component LR (or the base LR when
    null) times the LR scale, with ``initial_lr`` so schedulers can resume."""
    lr = (train_config.learning_rate if learning_rate is None else learning_rate) * learning_rate_scale(train_config, world_size)
    group = {'name': name, 'params': list(params), 'lr': lr, 'initial_lr': lr}
    if param_names is not None:
        group['param_names'] = list(param_names)
    return group
