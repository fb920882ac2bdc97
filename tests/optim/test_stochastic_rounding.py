"""bfloat16 stochastic rounding: an update below half a bfloat16 step is lost when rounded to
nearest and kept in expectation when rounded stochastically, for every optimizer that has the
`stochastic_rounding` setting; CAME 8-bit is refused by name."""
from __future__ import annotations

import warnings

import pytest
import torch
from optim_helpers import config_for

from modules.config.enums import Optimizer
from modules.optim import (
    OptimizerUnavailableError,
    create_optimizer,
    optimizer_is_available,
    optimizer_problem,
)
from modules.optim.stochastic_rounding import copy_stochastic_

# the optimizers whose default parameter set has `stochastic_rounding` (CAME_8BIT is refused below)
ROUNDING = [Optimizer.ADAM, Optimizer.ADAMW, Optimizer.ADAMW_ADV, Optimizer.ADOPT_ADV, Optimizer.LION_ADV,
            Optimizer.SIGNSGD_ADV, Optimizer.PRODIGY_PLUS_SCHEDULE_FREE, Optimizer.PRODIGY_ADV, Optimizer.ADAFACTOR,
            Optimizer.CAME, Optimizer.MUON_ADV, Optimizer.ADAMUON_ADV]
START = 1.5  # in [1, 2): bfloat16 neighbours are 2**-7 apart on both sides
SPACING = 2.0 ** -7
SHAPE = (128, 256)
# Prodigy's step-size estimate reads the weights, so rounded weights change the later steps themselves
TOLERANCE = {Optimizer.PRODIGY_ADV: 0.5}


def _steps(optimizer: Optimizer, dtype: torch.dtype, lr: float, stochastic: bool, steps: int) -> torch.Tensor:
    """The weight change after `steps` steps on a fixed gradient, from a matrix of 1.5."""
    config = config_for(optimizer, learning_rate=lr)
    config.optimizer.stochastic_rounding = stochastic
    config.optimizer.fused = config.optimizer.foreach = False
    weight = torch.nn.Parameter(torch.full(SHAPE, START).to(dtype))
    gradient = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1)).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        built = create_optimizer([{'name': 'unet', 'params': [weight], 'lr': lr,
                                   'param_names': ['block.0.weight']}], config)
        torch.manual_seed(0)
        for _ in range(steps):
            weight.grad = gradient.clone()
            built.step()
    return weight.detach().float() - START


def _small_learning_rate(optimizer: Optimizer, steps: int) -> float:
    """An LR whose float32 updates average a twentieth of the bfloat16 spacing (all below half of it)."""
    lr = 1.0
    for _ in range(4):  # the update is close to proportional to the LR; adaptive ones need a few rounds
        change = _steps(optimizer, torch.float32, lr, False, steps).abs().mean().item()
        assert change > 0, f'{optimizer} does not move the weights at LR {lr}'
        lr *= 0.05 * SPACING / change
    return lr


@pytest.mark.parametrize('optimizer', ROUNDING, ids=str)
def test_stochastic_rounding_keeps_small_updates_in_expectation(optimizer):
    available, why = optimizer_is_available(optimizer)
    if not available:
        pytest.skip(why)
    steps = 3 if optimizer.is_adaptive else 1  # Prodigy's first steps hardly move
    lr = _small_learning_rate(optimizer, steps)
    exact = _steps(optimizer, torch.float32, lr, False, steps)
    assert exact.abs().max() < SPACING / 2  # every update is lost to rounding to nearest
    nearest = _steps(optimizer, torch.bfloat16, lr, False, steps)
    assert not nearest.any()
    stochastic = _steps(optimizer, torch.bfloat16, lr, True, steps)
    assert stochastic.any()
    # each weight moves a whole bfloat16 step with the probability its update stands for: along the
    # float32 direction, the average move matches the float32 one
    along = (stochastic * exact.sign()).mean().item()
    expected = exact.abs().mean().item()
    assert abs(along - expected) < TOLERANCE.get(optimizer, 0.1) * expected, (along, expected)


def test_copy_stochastic_rounds_to_the_neighbours_in_proportion():
    for value in (1.0 + 0.25 * SPACING, -(1.0 + 0.25 * SPACING), 3.0e-3):
        source = torch.full((200_000,), value)
        target = torch.empty(source.shape, dtype=torch.bfloat16)
        copy_stochastic_(target, source, torch.Generator().manual_seed(3))
        low, high = sorted(target.float().unique().tolist())
        assert low <= value <= high and len(target.float().unique()) == 2
        assert abs(target.float().mean().item() - value) < 0.01 * (high - low)
        assert torch.equal(source.to(torch.bfloat16).unique(), torch.tensor([source.to(torch.bfloat16)[0]]))


def test_wrapped_step_leaves_float32_weights_and_schedulers_as_they_were():
    """float32 parameters step as without the wrapper; an LR scheduler counts the wrapped step."""
    torch.manual_seed(0)
    wide = [torch.nn.Parameter(torch.randn(16, 8)), torch.nn.Parameter(torch.randn(8))]
    narrow = torch.nn.Parameter(torch.randn(16, 8).to(torch.bfloat16))
    reference = [torch.nn.Parameter(p.detach().clone()) for p in wide]
    gradients = [torch.randn(16, 8), torch.randn(8)]

    def build(params, stochastic):
        config = config_for(Optimizer.ADAMW, learning_rate=1e-2)
        config.optimizer.fused = config.optimizer.foreach = False
        config.optimizer.stochastic_rounding = stochastic
        return create_optimizer([{'name': 'unet', 'params': params, 'lr': 1e-2}], config)

    wrapped, plain = build([*wide, narrow], True), build(reference, False)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 0.5 ** step) for o in (wrapped, plain)]
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # "lr_scheduler.step() before optimizer.step()" would raise
        for _ in range(3):
            for p, r, g in zip(wide, reference, gradients, strict=True):
                p.grad, r.grad = g.clone(), g.clone()
            narrow.grad = torch.ones(16, 8, dtype=torch.bfloat16)
            wrapped.step()
            plain.step()
            for scheduler in schedulers:
                scheduler.step()
    for p, r in zip(wide, reference, strict=True):
        assert torch.equal(p, r)
    assert narrow.dtype == torch.bfloat16 and narrow.grad.dtype == torch.bfloat16
    assert wrapped.state[narrow]['exp_avg'].dtype == torch.float32  # the state keeps the unrounded precision
    assert wrapped.param_groups[0]['params'] == [*wide, narrow]
    assert wrapped.param_groups[0]['lr'] == pytest.approx(1e-2 * 0.5 ** 3)


def test_torch_adam_refuses_stochastic_rounding_with_its_fused_kernel():
    config = config_for(Optimizer.ADAM)
    config.optimizer.fused, config.optimizer.stochastic_rounding = True, True
    with pytest.raises(ValueError, match='stochastic_rounding'):
        create_optimizer([{'name': 'unet', 'params': [torch.nn.Parameter(torch.zeros(2))], 'lr': 1e-3}], config)


def test_came_8bit_is_refused_at_check_time_and_when_built():
    from modules.config.train_config import TrainConfig
    from modules.engine import check

    why = optimizer_problem(Optimizer.CAME_8BIT)
    assert why and '8-bit CAME' in why and 'CAME (full-precision state)' in why
    assert optimizer_is_available(Optimizer.CAME_8BIT)[0] is False
    with pytest.raises(OptimizerUnavailableError, match='8-bit CAME'):
        create_optimizer([{'name': 'unet', 'params': [torch.nn.Parameter(torch.zeros(2))], 'lr': 1e-3}],
                         config_for(Optimizer.CAME_8BIT))
    config = TrainConfig.default_values()
    config.change_optimizer(Optimizer.CAME_8BIT)
    errors = [p for p in check(config, paths=False) if p.severity == 'error' and p.path == 'optimizer.optimizer']
    assert [p.message for p in errors] == [why]
    config.change_optimizer(Optimizer.CAME)
    assert not [p for p in check(config, paths=False) if p.path == 'optimizer.optimizer']
