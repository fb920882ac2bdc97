"""Learning-rate schedule shapes, warm-up, resume and LR/loss scaling."""
from __future__ import annotations

import math

import pytest
import torch
from optim_helpers import config_for

from modules.config.enums import LearningRateScaler, LearningRateScheduler, LossScaler, Optimizer
from modules.optim import (
    create_lr_scheduler,
    create_optimizer,
    learning_rate_scale,
    loss_scale,
    make_parameter_group,
    warmup_steps,
)
from modules.optim.schedulers import main_factor

S = LearningRateScheduler


def _optimizer(config, lr=1.0):
    param = torch.nn.Parameter(torch.zeros(2))
    return create_optimizer([{'name': 'unet', 'params': [param], 'lr': lr}], config)


def _config(kind, warmup=0.0, **overrides):
    return config_for(Optimizer.SGD, learning_rate_scheduler=kind, learning_rate_warmup_steps=warmup, **overrides)


def _lrs(scheduler, steps):
    """LR used for each of `steps` optimizer steps."""
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return values


# ---- warm-up length ----------------------------------------------------------------------------

@pytest.mark.parametrize(('value', 'accumulation', 'expected'), [
    (200.0, 1, 200), (200.0, 4, 50), (0.1, 1, 100), (0.25, 4, 250), (1.0, 1, 1000), (0.0, 1, 0), (-3.0, 1, 0),
])
def test_warmup_steps(value, accumulation, expected):
    config = _config(S.CONSTANT, warmup=value, gradient_accumulation_steps=accumulation)
    assert warmup_steps(config, 1000) == expected


def test_warmup_ramps_linearly_then_hands_over():
    config = _config(S.CONSTANT, warmup=10.0)
    lrs = _lrs(create_lr_scheduler(_optimizer(config), config, total_steps=30), 30)
    assert lrs[:11] == pytest.approx([i / 10 for i in range(11)])
    assert lrs[10:] == pytest.approx([1.0] * 20)


# ---- shapes --------------------------------------------------------------------------------------

def test_linear_and_cosine_end_at_the_min_factor():
    for kind in (S.LINEAR, S.COSINE):
        config = _config(kind, warmup=10.0, learning_rate_min_factor=0.1)
        scheduler = create_lr_scheduler(_optimizer(config), config, total_steps=110)
        lrs = _lrs(scheduler, 111)
        main = lrs[10:]
        assert main[0] == pytest.approx(1.0)
        assert all(a >= b for a, b in zip(main, main[1:], strict=False)), kind
        assert main[100] == pytest.approx(0.1)
    assert main[50] == pytest.approx(0.1 + 0.9 * 0.5)  # cosine half way


def test_rex_stays_high_longer_than_linear():
    assert main_factor(S.REX, 50, 100, 1.0, 0.0) == pytest.approx(0.5 / 0.55)
    assert main_factor(S.REX, 100, 100, 1.0, 0.0) == 0.0
    assert main_factor(S.REX, 90, 100, 1.0, 0.2) == pytest.approx(0.2 + 0.8 * (0.1 / 0.19))


def test_cosine_with_restarts_goes_up_again():
    values = [main_factor(S.COSINE_WITH_RESTARTS, k, 100, 2.0, 0.0) for k in range(100)]
    assert values[0] == pytest.approx(1.0)
    assert values[25] == pytest.approx(0.0, abs=1e-9)  # first trough
    assert values[50] == pytest.approx(1.0)  # back at the top
    assert values[75] == pytest.approx(0.0, abs=1e-9)
    assert main_factor(S.COSINE_WITH_RESTARTS, 500, 100, 2.0, 0.0) == values[99]  # holds after the end


def test_cosine_with_hard_restarts_jumps_back():
    values = [main_factor(S.COSINE_WITH_HARD_RESTARTS, k, 100, 2.0, 0.0) for k in range(100)]
    assert values[0] == pytest.approx(1.0)
    assert values[49] < 0.01
    assert values[50] == pytest.approx(1.0)  # saw-tooth restart
    assert all(a > b for a, b in zip(values[50:99], values[51:100], strict=True))


def test_constant_ignores_min_factor():
    assert main_factor(S.CONSTANT, 99, 100, 1.0, 0.5) == 1.0


# ---- resume ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', [S.LINEAR, S.COSINE, S.COSINE_WITH_RESTARTS, S.COSINE_WITH_HARD_RESTARTS, S.REX])
def test_state_dict_round_trip_resumes_the_same_sequence(kind):
    config = _config(kind, warmup=5.0, learning_rate_cycles=3.0, learning_rate_min_factor=0.05)
    reference = _lrs(create_lr_scheduler(_optimizer(config), config, total_steps=60), 60)

    first = create_lr_scheduler(_optimizer(config), config, total_steps=60)
    head = _lrs(first, 25)
    state = first.state_dict()
    resumed = create_lr_scheduler(_optimizer(config), config, total_steps=60)
    resumed.load_state_dict(state)
    assert head + _lrs(resumed, 35) == pytest.approx(reference)


def test_global_step_alone_resumes_the_curve():
    config = _config(S.COSINE, warmup=8.0, gradient_accumulation_steps=2)  # 4 optimizer steps of warm-up
    reference = _lrs(create_lr_scheduler(_optimizer(config), config, total_steps=40), 40)
    resumed = create_lr_scheduler(_optimizer(config), config, total_steps=40, global_step=2 * 17)
    assert resumed.optimizer.param_groups[0]['lr'] == pytest.approx(reference[17])  # applied right away
    assert _lrs(resumed, 23) == pytest.approx(reference[17:])


# ---- optimizer-dependent schedules -----------------------------------------------------------------------

def test_schedule_free_optimizers_get_a_constant_lr_without_warmup():
    config = config_for(Optimizer.SCHEDULE_FREE_SGD, learning_rate_scheduler=S.COSINE, learning_rate_warmup_steps=5.0)
    config.optimizer.momentum = 0.9
    scheduler = create_lr_scheduler(_optimizer(config, lr=0.1), config, total_steps=20)
    assert _lrs(scheduler, 20) == pytest.approx([0.1] * 20)


def test_adafactor_schedule_reports_the_internal_lr():
    pytest.importorskip('transformers')
    config = config_for(Optimizer.ADAFACTOR, learning_rate_scheduler=S.ADAFACTOR)
    config.optimizer.relative_step = True
    param = torch.nn.Parameter(torch.ones(4, 4))
    optimizer = create_optimizer([{'name': 'unet', 'params': [param]}], config)
    scheduler = create_lr_scheduler(optimizer, config, total_steps=10)
    param.grad = torch.ones(4, 4)
    optimizer.step()
    scheduler.step()
    lr = scheduler.get_last_lr()[0]
    assert 0 < lr < 1  # relative step size, not a fixed LR
    fresh = create_optimizer([{'name': 'unet', 'params': [param]}], config)
    with pytest.raises(ValueError, match='ADAFACTOR'):
        create_lr_scheduler(fresh, _config(S.COSINE), total_steps=10)


# ---- custom schedulers -----------------------------------------------------------------------------------

def test_custom_scheduler_with_literal_params():
    config = _config(S.CUSTOM, custom_learning_rate_scheduler='torch.optim.lr_scheduler.StepLR',
                     scheduler_params=[{'key': 'step_size', 'value': '3'}, {'key': 'gamma', 'value': '0.5'}])
    scheduler = create_lr_scheduler(_optimizer(config), config, total_steps=9)
    assert _lrs(scheduler, 9) == pytest.approx([1, 1, 1, .5, .5, .5, .25, .25, .25])


def test_custom_scheduler_placeholders_and_warmup_chain():
    config = _config(S.CUSTOM, warmup=4.0, custom_learning_rate_scheduler='torch.optim.lr_scheduler.LinearLR',
                     scheduler_params=[{'key': 'start_factor', 'value': '1.0'},
                                       {'key': 'end_factor', 'value': '0.0'},
                                       {'key': 'total_iters', 'value': '%SCHEDULER_STEPS%'}])
    scheduler = create_lr_scheduler(_optimizer(config), config, total_steps=12)
    lrs = _lrs(scheduler, 13)
    assert lrs[:4] == pytest.approx([0, .25, .5, .75])
    assert lrs[4:] == pytest.approx([1 - i / 8 for i in range(9)])  # decays over the 8 steps after warm-up
    resumed = create_lr_scheduler(_optimizer(config), config, total_steps=12, global_step=6)
    assert resumed.get_last_lr()[0] == pytest.approx(lrs[6])


def test_custom_scheduler_needs_a_dotted_path():
    config = _config(S.CUSTOM, custom_learning_rate_scheduler='StepLR')
    with pytest.raises(ValueError, match='dotted'):
        create_lr_scheduler(_optimizer(config), config, total_steps=5)


# ---- scaling -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('scaler', 'expected'), [
    ('NONE', 1), ('BATCH', 4), ('GLOBAL_BATCH', 8), ('GRADIENT_ACCUMULATION', 3), ('BOTH', 12), ('GLOBAL_BOTH', 24),
])
def test_learning_rate_and_loss_scales(scaler, expected):
    config = config_for(Optimizer.ADAMW, batch_size=4, gradient_accumulation_steps=3,
                        learning_rate_scaler=LearningRateScaler(scaler), loss_scaler=LossScaler(scaler))
    assert learning_rate_scale(config, world_size=2) == pytest.approx(math.sqrt(expected))
    assert loss_scale(config, world_size=2) == expected


def test_parameter_group_uses_component_lr_and_scale():
    config = config_for(Optimizer.ADAMW, learning_rate=1e-4, batch_size=4, learning_rate_scaler=LearningRateScaler.BATCH)
    params = [torch.nn.Parameter(torch.zeros(1))]
    assert make_parameter_group('unet', params, config)['lr'] == pytest.approx(2e-4)
    group = make_parameter_group('text_encoder', params, config, learning_rate=1e-5, param_names=['w'])
    assert group == {'name': 'text_encoder', 'params': params, 'lr': pytest.approx(2e-5),
                     'initial_lr': pytest.approx(2e-5), 'param_names': ['w']}
