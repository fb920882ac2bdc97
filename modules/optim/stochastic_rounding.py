"""bfloat16 stochastic rounding for optimizers whose library rounds to nearest.

A bfloat16 weight keeps 8 bits of mantissa, so an update smaller than half the spacing between
neighbouring values is lost entirely when the result is rounded to nearest: with a small learning
rate, training stalls. Rounding up or down at random, with the probability given by the dropped
bits, keeps the update in expectation (Revisiting BFloat16 Training, arXiv:2010.06192).

`round_stochastically(optimizer)` wraps an optimizer's step: each bfloat16 parameter is stepped on a
float32 copy of itself (one parameter at a time, so the extra memory is one parameter's), and the
result is written back with stochastic rounding. Its optimizer state is kept in float32. Other
parameters step as before, together. The random bits come from torch's default generator, which the
trainer seeds from the global step, so a resumed run rounds the same way.

Per-parameter stepping fits optimizers whose state is per parameter (torch Adam/AdamW, Adafactor,
CAME); optimizers whose libraries round stochastically themselves take the setting as a keyword.
"""
from __future__ import annotations

import types
from contextlib import contextmanager

import torch

_LOW_BITS = 1 << 16  # the float32 mantissa bits that bfloat16 drops
_HIGH_MASK = -_LOW_BITS  # 0xFFFF0000 as a signed int32


def copy_stochastic_(target: torch.Tensor, source: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """target (bfloat16) := source (float32) rounded up or down at random, in proportion to the
    distance to either neighbour: E[target] == source."""
    noise = torch.randint(0, _LOW_BITS, source.shape, dtype=torch.int32, device=source.device, generator=generator)
    # adding random low bits carries into the kept bits with the probability the low bits stand for
    rounded = noise.add_(source.contiguous().view(torch.int32)).bitwise_and_(_HIGH_MASK)
    target.copy_(rounded.view(torch.float32))  # exact: the low bits are zero


@contextmanager
def _stepping_in_float32(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter):
    """The parameter, its gradient and its state as float32 for one step; the new value is written
    back into the bfloat16 storage with stochastic rounding."""
    stored, grad = param.data, param.grad
    param.grad = None
    param.data = stored.float()
    param.grad = grad.float()
    for key, value in optimizer.state.get(param, {}).items():
        if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16 and value.ndim > 0:
            optimizer.state[param][key] = value.float()  # e.g. state restored from a backup in the weight dtype
    try:
        yield
        copy_stochastic_(stored, param.data)
    finally:
        param.grad = None
        param.data = stored
        param.grad = grad


def _rounded_step(optimizer: torch.optim.Optimizer, step, closure=None):
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    groups = optimizer.param_groups
    every = [group['params'] for group in groups]
    try:
        rest = [[p for p in params if p.dtype != torch.bfloat16] for params in every]
        if any(rest):
            for group, params in zip(groups, rest, strict=True):
                group['params'] = params
            step()
        for index, params in enumerate(every):
            for param in params:
                if param.dtype != torch.bfloat16 or param.grad is None:
                    continue
                for group in groups:
                    group['params'] = []
                groups[index]['params'] = [param]
                with _stepping_in_float32(optimizer, param):
                    step()
    finally:
        for group, params in zip(groups, every, strict=True):
            group['params'] = params
    return loss


def round_stochastically(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Make `optimizer.step` round its bfloat16 parameters stochastically (see the module text)."""
    step = optimizer.step

    def rounded_step(self, closure=None):
        return _rounded_step(self, step, closure)

    # a bound method: LR schedulers re-bind `optimizer.step.__func__` to count steps
    optimizer.step = types.MethodType(rounded_step, optimizer)
    optimizer.rounds_stochastically = True
    return optimizer
