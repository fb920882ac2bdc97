"""Every Optimizer member either trains a tiny model or says which package it needs."""
from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from optim_helpers import config_for, groups_for, tiny_model, train_steps

from modules.config.enums import Optimizer
from modules.optim import OptimizerUnavailableError, create_optimizer, optimizer_is_available
from modules.optim.recipes import RECIPES

# Default parameter sets the libraries refuse (as they do in OneTrainer): momentum 0 for
# bitsandbytes LARS/SGD and schedule-free SGD, eps 0 for D-Adapt AdaGrad.
_RUNNABLE_OVERRIDES = {
    Optimizer.LARS: {'momentum': 0.9},
    Optimizer.LARS_8BIT: {'momentum': 0.9},
    Optimizer.SGD_8BIT: {'momentum': 0.9},
    Optimizer.SCHEDULE_FREE_SGD: {'momentum': 0.9},
    Optimizer.DADAPT_ADA_GRAD: {'eps': 1e-6},
}


def _library_importable(optimizer: Optimizer) -> bool:
    try:
        importlib.import_module(RECIPES[optimizer].module)
    except Exception:
        return False
    return True


def _learning_rate(optimizer: Optimizer) -> float:
    # Adaptive optimizers estimate the step size themselves: OneTrainer's advice is LR 1.
    return 1.0 if optimizer.is_adaptive else 1e-2


def test_every_member_has_a_recipe():
    assert set(RECIPES) == set(Optimizer)
    assert len(RECIPES) == 43


@pytest.mark.parametrize('optimizer', list(Optimizer), ids=str)
def test_wiring_reads_existing_config_fields(optimizer):
    config = config_for(optimizer)
    missing = [f for f in RECIPES[optimizer].wiring.fields() if not hasattr(config.optimizer, f)]
    assert missing == []


@pytest.mark.parametrize('optimizer', list(Optimizer), ids=str)
def test_optimizer_steps_or_is_unavailable(optimizer):
    config = config_for(optimizer, learning_rate=_learning_rate(optimizer), learning_rate_warmup_steps=2.0)
    for key, value in _RUNNABLE_OVERRIDES.get(optimizer, {}).items():
        setattr(config.optimizer, key, value)
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]

    recipe = RECIPES[optimizer]
    if recipe.unavailable or not _library_importable(optimizer):
        with pytest.raises(OptimizerUnavailableError) as info:
            create_optimizer(groups_for(model, config.learning_rate), config)
        assert (recipe.unavailable or recipe.package) in str(info.value)
        assert optimizer_is_available(optimizer)[0] is False
        return

    assert optimizer_is_available(optimizer) == (True, '')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        built = create_optimizer(groups_for(model, config.learning_rate), config)
        losses = train_steps(model, built, 20)

    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if optimizer.is_adaptive:
        # From d0 = 1e-6, 20 steps are too few for a reliable loss drop; the step-size estimate
        # must have grown though.
        assert all(float(group['d']) > 1e-6 for group in built.param_groups)
    else:
        assert losses[-1] < losses[0], losses
