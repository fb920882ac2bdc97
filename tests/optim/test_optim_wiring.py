"""Constructor wiring: config fields, null fallbacks, special rules and missing libraries."""
from __future__ import annotations

import importlib.util
import inspect
import math
from types import SimpleNamespace

import pytest
import torch
from optim_helpers import config_for, groups_for, tiny_model, train_steps

from modules.config.enums import ModelType, Optimizer
from modules.optim import OptimizerUnavailableError, create_optimizer, optimizer_is_available
from modules.optim import recipes as recipes_module
from modules.optim.recipes import Recipe
from modules.optim.wiring import parse_wiring


def _build(config, lr=1e-3):
    return create_optimizer(groups_for(tiny_model(), lr), config)


# ---- the notation ------------------------------------------------------------------------------

def test_wiring_notation():
    wiring = parse_wiring(
        'betas=(beta1?0.9, beta2?0.999); decay<-weight_decay?0; steps=$warmup_per_accumulation; '
        'stochastic_rounding=stochastic_rounding; growth_rate?inf; beta3?None'
    )
    optimizer_config = SimpleNamespace(beta1=0.5, beta2=None, weight_decay=None, stochastic_rounding=None,
                                       growth_rate=None, beta3=None)
    train_config = SimpleNamespace(learning_rate_warmup_steps=200.0, gradient_accumulation_steps=4)
    assert wiring.kwargs(optimizer_config, train_config) == {
        'betas': (0.5, 0.999),
        'decay': 0,
        'steps': 50.0,
        'stochastic_rounding': None,  # passed unconditionally, null included
        'growth_rate': math.inf,
        'beta3': None,
    }
    assert wiring.fields() == {'beta1', 'beta2', 'weight_decay', 'stochastic_rounding', 'growth_rate', 'beta3'}


def test_unknown_derived_value_is_rejected():
    with pytest.raises(ValueError, match='derived'):
        parse_wiring('x=$nothing')


# ---- values reaching the constructors ------------------------------------------------------------

def test_default_parameter_set_reaches_the_constructor():
    config = config_for(Optimizer.ADAMW)
    config.optimizer.fused = False
    defaults = _build(config).defaults
    assert defaults['betas'] == (0.9, 0.999)
    assert defaults['weight_decay'] == 0.01
    assert defaults['eps'] == 1e-8


def test_null_fields_fall_back_to_the_constructor_defaults_of_the_spec():
    config = config_for(Optimizer.ADAMW_ADV)
    config.optimizer.beta1 = None  # the _ADV optimizers fall back to beta1 = 0, unlike the default set
    config.optimizer.eps = None
    config.optimizer.beta3 = None
    defaults = _build(config).defaults
    assert defaults['betas'] == (0, 0.99)
    assert defaults['eps'] == 1e-8
    assert defaults['beta3_ema'] == 0.9999

    config = config_for(Optimizer.PRODIGY)
    assert _build(config).defaults['slice_p'] == 11  # from the default parameter set
    config.optimizer.slice_p = None
    config.optimizer.growth_rate = None
    defaults = _build(config).defaults
    assert defaults['slice_p'] == 1
    assert defaults['growth_rate'] == math.inf


def test_renamed_keywords():
    config = config_for(Optimizer.TIGER)
    config.optimizer.beta1 = 0.5
    config.optimizer.decoupled_decay = False
    defaults = _build(config).defaults
    assert defaults['beta'] == 0.5
    assert defaults['weight_decouple'] is False

    config = config_for(Optimizer.ADABELIEF)
    config.optimizer.amsgrad = True
    assert _build(config).defaults['ams_bound'] is True


def test_warmup_is_passed_to_optimizers_that_warm_up_themselves():
    config = config_for(Optimizer.SCHEDULE_FREE_ADAMW, learning_rate_warmup_steps=40.0)
    assert _build(config).defaults['warmup_steps'] == 40.0

    config = config_for(Optimizer.ADAMW_ADV, learning_rate_warmup_steps=40.0, gradient_accumulation_steps=4)
    assert _build(config).defaults['k_warmup_steps'] == 10.0


def test_no_optimizer_configured_builds_none():
    config = config_for(Optimizer.ADAMW)
    config.optimizer.optimizer = None
    assert create_optimizer(groups_for(tiny_model(), 1e-3), config) is None


def test_group_learning_rates_and_names_are_kept():
    model = tiny_model()
    params = list(model.parameters())
    groups = [{'name': 'text_encoder', 'params': params[:2], 'lr': 1e-3},
              {'name': 'unet', 'params': params[2:]}]
    config = config_for(Optimizer.ADAMW, learning_rate=5e-4)
    built = create_optimizer(groups, config)
    assert [(g['name'], g['lr']) for g in built.param_groups] == [('text_encoder', 1e-3), ('unet', 5e-4)]
    assert 'lr' not in groups[1]  # the caller's dicts are not changed


# ---- rules beyond the table --------------------------------------------------------------------------

def test_torch_adam_refuses_stochastic_rounding_with_fused_kernels():
    config = config_for(Optimizer.ADAM)
    assert config.optimizer.fused is True
    config.optimizer.stochastic_rounding = True
    with pytest.raises(ValueError, match='fused'):
        _build(config)
    config.optimizer.fused = False
    _build(config)


def test_adafactor_relative_step_computes_its_own_lr():
    config = config_for(Optimizer.ADAFACTOR)
    config.optimizer.relative_step = True
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1e-3), config)
    assert all(group['lr'] is None for group in built.param_groups)
    losses = train_steps(model, built, 10)
    assert losses[-1] < losses[0]


def test_schedule_free_is_refused_for_wuerstchen():
    config = config_for(Optimizer.SCHEDULE_FREE_ADAMW, model_type=ModelType.WUERSTCHEN_2)
    with pytest.raises(ValueError, match='Wuerstchen'):
        _build(config)


def test_library_refusal_names_the_optimizer():
    config = config_for(Optimizer.LARS)  # bitsandbytes has no LARS without momentum
    with pytest.raises(ValueError, match='LARS'):
        _build(config)


@pytest.mark.skipif(torch.cuda.is_available() and importlib.util.find_spec('triton') is not None,
                    reason='triton can run here')
def test_lion_triton_needs_triton_and_a_gpu():
    config = config_for(Optimizer.LION)
    config.optimizer.use_triton = True
    with pytest.raises(OptimizerUnavailableError, match='triton'):
        _build(config)


def test_options_missing_from_the_installed_bitsandbytes_are_dropped_with_a_warning():
    bnb = pytest.importorskip('bitsandbytes.optim')
    if 'percentile_clipping' in inspect.signature(bnb.Adam8bit.__init__).parameters:
        pytest.skip('this bitsandbytes still has percentile clipping')
    config = config_for(Optimizer.ADAM_8BIT)
    _build(config)  # the neutral default value is dropped silently
    config.optimizer.percentile_clipping = 50
    with pytest.warns(UserWarning, match='percentile_clipping'):
        _build(config)


def test_features_the_library_lacks_are_reported():
    config = config_for(Optimizer.CAME)
    config.optimizer.use_cautious = True
    with pytest.warns(UserWarning, match='use_cautious'):
        _build(config)


# ---- missing libraries -----------------------------------------------------------------------------------

def test_missing_library_raises_with_install_hint(monkeypatch):
    monkeypatch.setitem(recipes_module.RECIPES, Optimizer.LION,
                        Recipe('no_such_optimizer_lib:Lion', 'no-such-optimizer-lib', 'weight_decay?0'))
    with pytest.raises(OptimizerUnavailableError) as info:
        _build(config_for(Optimizer.LION))
    assert info.value.optimizer == 'LION'
    assert 'pip install no-such-optimizer-lib' in str(info.value)
    available, reason = optimizer_is_available(Optimizer.LION)
    assert available is False and 'no-such-optimizer-lib' in reason


def test_wrong_distribution_of_a_module_is_reported(monkeypatch):
    monkeypatch.setitem(recipes_module.RECIPES, Optimizer.MUON,
                        Recipe('json:SingleDeviceMuonWithAuxAdam', 'muon-optimizer', '', builder='muon'))
    with pytest.raises(OptimizerUnavailableError, match='muon-optimizer'):
        _build(config_for(Optimizer.MUON))
