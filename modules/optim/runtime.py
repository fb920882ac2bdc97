"""What the trainer asks of a built optimizer: its kind, train/eval mode, the LRs it applies."""
from __future__ import annotations

import weakref

import torch

from modules.config.enums import Optimizer

_KINDS: weakref.WeakKeyDictionary[torch.optim.Optimizer, Optimizer] = weakref.WeakKeyDictionary()


def remember_kind(optimizer: torch.optim.Optimizer, kind: Optimizer) -> None:
    _KINDS[optimizer] = kind


def optimizer_kind(optimizer: torch.optim.Optimizer) -> Optimizer | None:
    """The Optimizer member this instance was built for (None if not built by create_optimizer)."""
    return _KINDS.get(optimizer)


def is_schedule_free(optimizer: torch.optim.Optimizer) -> bool:
    kind = optimizer_kind(optimizer)
    if kind is not None:
        return kind.is_schedule_free
    # Built elsewhere: schedule-free implementations keep a train_mode flag per group.
    return any('train_mode' in group for group in optimizer.param_groups) and callable(getattr(optimizer, 'eval', None))


def prepare_for_training(optimizer: torch.optim.Optimizer | None) -> None:
    """Schedule-free optimizers step on the training point; switch them back before stepping."""
    if optimizer is not None and is_schedule_free(optimizer):
        optimizer.train()


def prepare_for_eval(optimizer: torch.optim.Optimizer | None) -> None:
    """Schedule-free optimizers hold the averaged weights in eval mode: use it for sampling,
    validation and saving. No-op for every other optimizer."""
    if optimizer is not None and is_schedule_free(optimizer):
        optimizer.eval()


def _is_adaptive(optimizer: torch.optim.Optimizer) -> bool:
    kind = optimizer_kind(optimizer)
    if kind is not None:
        return kind.is_adaptive
    return any('d' in group for group in optimizer.param_groups)


def effective_learning_rates(optimizer: torch.optim.Optimizer, lrs: list[float] | None = None) -> list[float]:
    """Per group, the LR actually applied: for adaptive optimizers (Prodigy, D-Adaptation ...)
    ``(effective_lr or lr) * d``, otherwise the group LR. `lrs` overrides the group LRs
    (e.g. a scheduler's ``get_last_lr()``)."""
    groups = optimizer.param_groups
    if lrs is None:
        lrs = [group.get('lr') or 0.0 for group in groups]
    if not _is_adaptive(optimizer):
        return [float(lr) for lr in lrs]
    return [float(group.get('effective_lr', lr)) * float(group.get('d', 1.0)) for lr, group in zip(lrs, groups, strict=True)]


def reported_learning_rates(optimizer: torch.optim.Optimizer, lrs: list[float] | None = None) -> dict[str, float]:
    """LRs to log, by group display name; groups sharing a prefix before "/" (all embeddings of
    one text encoder) report once, with the first group's value."""
    result: dict[str, float] = {}
    for index, (group, lr) in enumerate(zip(optimizer.param_groups, effective_learning_rates(optimizer, lrs), strict=True)):
        name = str(group.get('name', f'group_{index}'))
        key = name.split('/', 1)[0]
        result.setdefault(key, lr)
    return result
