"""Optimizers and learning-rate schedulers, built from a TrainConfig."""
from modules.optim.availability import OptimizerUnavailableError
from modules.optim.recipes import optimizer_problem
from modules.optim.registry import create_optimizer, optimizer_is_available
from modules.optim.runtime import (
    effective_learning_rates,
    is_schedule_free,
    optimizer_kind,
    prepare_for_eval,
    prepare_for_training,
    reported_learning_rates,
)
from modules.optim.scaling import learning_rate_scale, loss_scale, make_parameter_group
from modules.optim.schedulers import create_lr_scheduler, warmup_steps

__all__ = [
    'OptimizerUnavailableError',
    'create_lr_scheduler',
    'create_optimizer',
    'effective_learning_rates',
    'is_schedule_free',
    'learning_rate_scale',
    'loss_scale',
    'make_parameter_group',
    'optimizer_is_available',
    'optimizer_problem',
    'optimizer_kind',
    'prepare_for_eval',
    'prepare_for_training',
    'reported_learning_rates',
    'warmup_steps',
]
