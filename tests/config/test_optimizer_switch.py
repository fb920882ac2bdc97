"""Choosing an optimizer applies its parameter set and restores what the user used before."""
from __future__ import annotations

import math

import pytest

from modules.config.enums import Optimizer
from modules.config.optimizer_defaults import OPTIMIZER_DEFAULT_PARAMETERS
from modules.config.train_config import TrainConfig


@pytest.mark.parametrize('optimizer', list(Optimizer))
def test_switch_applies_default_parameter_set(optimizer):
    config = TrainConfig.default_values()
    config.change_optimizer(optimizer)
    assert config.optimizer.optimizer == optimizer
    for key, value in OPTIMIZER_DEFAULT_PARAMETERS[str(optimizer)].items():
        got = getattr(config.optimizer, key)
        assert got == value or (isinstance(value, float) and math.isinf(value) and math.isinf(got)), key


def test_switch_back_restores_remembered_values():
    config = TrainConfig.default_values()
    config.change_optimizer(Optimizer.ADAMW)
    config.optimizer.beta1 = 0.5
    config.remember_optimizer()
    config.change_optimizer(Optimizer.PRODIGY)
    assert config.optimizer.d_coef == 1.0 and config.optimizer.beta1 == 0.9
    config.change_optimizer(Optimizer.ADAMW)
    assert config.optimizer.beta1 == 0.5


def test_load_defaults_forgets_remembered_values():
    config = TrainConfig.default_values()
    config.change_optimizer(Optimizer.ADAMW)
    config.optimizer.weight_decay = 0.3
    config.remember_optimizer()
    config.load_optimizer_defaults()
    assert config.optimizer.weight_decay == 0.01 and 'ADAMW' not in config.optimizer_defaults
    config.change_optimizer(Optimizer.SGD)
    config.change_optimizer(Optimizer.ADAMW)
    assert config.optimizer.weight_decay == 0.01


def test_remembered_values_survive_save_and_load():
    config = TrainConfig.default_values()
    config.change_optimizer(Optimizer.LION)
    config.optimizer.beta2 = 0.77
    config.remember_optimizer()
    config.change_optimizer(Optimizer.ADAMW)
    loaded = TrainConfig.default_values().from_dict(config.to_settings_dict())
    loaded.change_optimizer(Optimizer.LION)
    assert loaded.optimizer.beta2 == 0.77


def test_preset_optimizer_defaults_win_after_switch(reference_dir):
    from modules.config.presets import load_config_file

    config = load_config_file(reference_dir / 'onetrainer_presets' / 'Stable Cascade' / '#stable cascade.json', preset=True)
    config.change_optimizer(config.optimizer.optimizer)
    assert config.optimizer.optimizer == Optimizer.ADAFACTOR
    assert config.optimizer.eps2 == 0.001 and config.optimizer.decay_rate == -0.8


def test_switch_keeps_the_optimizer_object_and_notifies_observers():
    config = TrainConfig.default_values()
    optimizer = config.optimizer
    seen = []
    optimizer.subscribe(lambda _owner, name, value: seen.append((name, value)))
    config.change_optimizer(Optimizer.LION)
    assert config.optimizer is optimizer and ('optimizer', Optimizer.LION) in seen
    config.load_optimizer_defaults()
    assert config.optimizer is optimizer
