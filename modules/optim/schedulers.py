"""Learning-rate schedules: OneTrainer's eight LearningRateScheduler shapes, with warm-up.

Every built-in shape is a factor on each group's ``initial_lr`` (a torch LambdaLR), stepped
once per optimizer step. ``last_epoch`` is derived from the global (micro-batch) step, so a
resumed run continues the curve even before a saved scheduler state is loaded.
"""
from __future__ import annotations

import ast
import functools
import importlib
import math
import warnings

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, SequentialLR

from modules.config.enums import LearningRateScheduler
from modules.optim.runtime import is_schedule_free


def warmup_steps(train_config, total_steps: int) -> int:
    """Warm-up length in optimizer steps: values above 1 count micro-batches, values in (0, 1]
    are a fraction of all optimizer steps."""
    value = train_config.learning_rate_warmup_steps or 0
    if value > 1:
        return int(value / train_config.gradient_accumulation_steps)
    if value > 0:
        return int(value * total_steps)
    return 0


def _floor(value: float, min_factor: float) -> float:
    return min_factor + (1 - min_factor) * value


def main_factor(kind: LearningRateScheduler, k: int, steps: int, cycles: float, min_factor: float) -> float:
    """LR factor `k` optimizer steps after warm-up, for a main schedule `steps` long."""
    steps = max(steps, 1)
    progress = min(k, steps - 1) / steps  # restart schedules hold the last cycle position
    match kind:
        case LearningRateScheduler.CONSTANT:
            return 1.0
        case LearningRateScheduler.LINEAR:
            value = max(0.0, (steps - k) / steps)
        case LearningRateScheduler.COSINE:
            value = max(0.0, 0.5 * (1 + math.cos(math.pi * k / steps)))
        case LearningRateScheduler.COSINE_WITH_RESTARTS:
            value = max(0.0, 0.5 * (1 + math.cos(2 * math.pi * cycles * progress)))
        case LearningRateScheduler.COSINE_WITH_HARD_RESTARTS:
            value = max(0.0, 0.5 * (1 + math.cos(math.pi * ((progress * cycles) % 1.0))))
        case LearningRateScheduler.REX:
            if k < steps:
                remaining = 1 - k / steps
                value = remaining / (0.1 + 0.9 * remaining)
            else:
                value = 0.0
        case _:
            raise ValueError(f'{kind} is not a factor schedule')
    return _floor(value, min_factor)


def _factor(step: int, kind: LearningRateScheduler, warmup: int, steps: int, cycles: float, min_factor: float) -> float:
    if step < warmup:
        return step / warmup
    return main_factor(kind, step - warmup, steps, cycles, min_factor)


def _linear_warmup(step: int, warmup: int) -> float:
    return min(step / warmup, 1.0)


def _parse_param(value: str, placeholders: dict[str, object]) -> object:
    for placeholder, replacement in placeholders.items():
        value = value.replace(placeholder, repr(replacement))
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value  # not a literal: pass the text on


def _import_class(path: str):
    module, _, name = path.rpartition('.')
    if not module:
        raise ValueError(f'custom scheduler "{path}" must be a dotted path "package.module.ClassName"')
    return getattr(importlib.import_module(module), name)


def custom_scheduler_kwargs(train_config, placeholders: dict[str, object]) -> dict:
    """`scheduler_params` ({"key", "value"} string pairs) as keyword arguments."""
    kwargs = {}
    for entry in train_config.scheduler_params or []:
        key = entry.get('key', '').strip()
        if key:
            kwargs[key] = _parse_param(str(entry.get('value', '')), placeholders)
    return kwargs


def _fast_forward(scheduler: LRScheduler, steps: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # stepping a scheduler without optimizer steps is intended here
        for _ in range(steps):
            scheduler.step()


def create_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    train_config,
    total_steps: int,
    global_step: int = 0,
    *,
    steps_per_epoch: int | None = None,
) -> LRScheduler:
    """The scheduler `train_config.learning_rate_scheduler` describes.

    `total_steps` counts optimizer steps of the whole run (batches x epochs / accumulation);
    `global_step` counts micro-batches already trained (0 for a fresh run). `steps_per_epoch`
    (batches per epoch) only feeds the %STEPS_PER_EPOCH% placeholder of custom schedulers.
    """
    accumulation = max(int(train_config.gradient_accumulation_steps), 1)
    last_epoch = global_step // accumulation - 1
    kind = LearningRateScheduler(train_config.learning_rate_scheduler)
    schedule_free = is_schedule_free(optimizer)
    if schedule_free:
        kind = LearningRateScheduler.CONSTANT  # schedule-free optimizers warm up internally
    warmup = 0 if schedule_free else warmup_steps(train_config, total_steps)
    main_steps = total_steps - warmup

    if kind == LearningRateScheduler.ADAFACTOR:
        from transformers.optimization import AdafactorSchedule

        scheduler = AdafactorSchedule(optimizer, initial_lr=optimizer.param_groups[0].get('lr') or 0.0)
        _fast_forward(scheduler, last_epoch + 1)
        return scheduler

    if any(group.get('lr') is None for group in optimizer.param_groups):
        raise ValueError(f'{kind} needs a learning rate in every group; Adafactor with relative steps '
                         'computes its own LR and needs the ADAFACTOR scheduler.')
    for group in optimizer.param_groups:
        group.setdefault('initial_lr', group['lr'])

    if kind == LearningRateScheduler.CUSTOM:
        if steps_per_epoch is None:
            steps_per_epoch = int(total_steps * accumulation / max(int(train_config.epochs), 1))
        placeholders = {
            '%LR%': train_config.learning_rate,
            '%EPOCHS%': train_config.epochs,
            '%STEPS_PER_EPOCH%': steps_per_epoch,
            '%TOTAL_STEPS%': total_steps,
            '%SCHEDULER_STEPS%': main_steps,
        }
        cls = _import_class(train_config.custom_learning_rate_scheduler or '')
        kwargs = custom_scheduler_kwargs(train_config, placeholders)
        if warmup <= 0:
            return cls(optimizer=optimizer, last_epoch=last_epoch, **kwargs)
        warm = LambdaLR(optimizer, functools.partial(_linear_warmup, warmup=warmup))
        scheduler = SequentialLR(optimizer, [warm, cls(optimizer=optimizer, **kwargs)], milestones=[warmup])
        _fast_forward(scheduler, last_epoch + 1)
        return scheduler

    factor = functools.partial(
        _factor,
        kind=kind,
        warmup=warmup,
        steps=main_steps,
        cycles=float(train_config.learning_rate_cycles),
        min_factor=float(train_config.learning_rate_min_factor),
    )
    return LambdaLR(optimizer, factor, last_epoch=last_epoch)
