"""A switch an old config leaves null gets the optimizer's fallback (compatibility spec, §5.2)."""
from __future__ import annotations

import inspect
import re

import pytest
from optim_helpers import config_for, groups_for, tiny_model, train_steps
from ot_test_paths import require_shared, shared_dir

from modules.config.enums import Optimizer
from modules.config.train_config import TrainConfig, TrainOptimizerConfig
from modules.optim import create_optimizer
from modules.optim import registry as registry_module
from modules.optim.recipes import RECIPES

SWITCHES = [f.name for f in TrainOptimizerConfig.FIELDS if f.type is bool]
_LITERALS = {'True': True, 'False': False, 'None': None}


def spec_switch_fallbacks() -> dict[Optimizer, dict[str, bool | None]]:
    """config field -> fallback of every switch with a `?fallback` in the spec's §5.2 table."""
    spec = require_shared(shared_dir() / 'docs' / 'onetrainer-spec.md').read_text()
    section = spec.split('### 5.2', 1)[1].split('### 5.3', 1)[0]
    table = {}
    for name, wiring in re.findall(r'^\| `(\w+)` \| (.*) \|$', section, re.MULTILINE):
        found = {}
        for item in wiring.split('; '):
            match = re.fullmatch(r'(\w+)(?:=|<-)(\w+)\?(\w+)', item.strip())
            if match and match[2] in SWITCHES:
                _keyword, field, fallback = match.groups()
                found[field] = _LITERALS[fallback]
        table[Optimizer[name]] = found
    return table


def with_null_switches(optimizer: Optimizer, **overrides) -> TrainConfig:
    """The optimizer's default set, then every switch null, as an old config loads."""
    config = config_for(optimizer, **overrides)
    config.optimizer.from_dict({name: None for name in SWITCHES}, migrate=False)
    assert config.optimizer.load_warnings == []
    return config


def test_every_null_switch_gets_the_spec_fallback():
    table = spec_switch_fallbacks()
    assert set(table) == set(Optimizer)
    assert table[Optimizer.PRODIGY]['decouple'] is True
    assert table[Optimizer.ADAFACTOR] == {'scale_parameter': True, 'relative_step': True, 'warmup_init': False}
    assert table[Optimizer.LAMB]['bias_correction'] is True and table[Optimizer.LAMB]['adam_w_mode'] is True
    for optimizer, expected in table.items():
        config = with_null_switches(optimizer)
        wiring = RECIPES[optimizer].wiring
        kwargs = wiring.kwargs(config.optimizer, config)
        # keyed by config field: a library may name the keyword differently (AdaBelief's ams_bound)
        passed = {item.field: kwargs[keyword] for keyword, item in wiring.entries
                  if not isinstance(item, tuple) and item.field in expected}
        assert passed == expected, optimizer


def test_adafactor_with_null_switches_uses_relative_steps():
    config = with_null_switches(Optimizer.ADAFACTOR)
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1e-3), config)
    assert built.defaults['relative_step'] is True
    assert built.defaults['scale_parameter'] is True
    assert built.defaults['warmup_init'] is False
    # with relative steps Adafactor computes its own learning rate
    assert all(group['lr'] is None and group['relative_step'] for group in built.param_groups)
    losses = train_steps(model, built, 10)
    assert losses[-1] < losses[0]


def test_prodigy_with_null_switches_decouples_weight_decay():
    config = with_null_switches(Optimizer.PRODIGY)
    built = create_optimizer(groups_for(tiny_model(), 1.0), config)
    assert built.defaults['decouple'] is True
    assert all(group['decouple'] is True for group in built.param_groups)
    assert built.defaults['use_bias_correction'] is False
    assert built.defaults['safeguard_warmup'] is False

    config.optimizer.decouple = False  # a real value is passed as it is
    assert create_optimizer(groups_for(tiny_model(), 1.0), config).defaults['decouple'] is False


@pytest.mark.parametrize('optimizer', [Optimizer.LAMB, Optimizer.LAMB_8BIT])
def test_lamb_with_null_switches_gets_bias_correction_and_adamw_mode(monkeypatch, optimizer):
    # bitsandbytes' LAMB keeps neither switch in its param groups: record what its constructor receives.
    received = {}
    load = registry_module.load_attribute

    def recording_load(name, constructor, package):
        cls = load(name, constructor, package)

        class Recording(cls):
            def __init__(self, params, **kwargs):
                received.update(kwargs)
                super().__init__(params, **kwargs)

        Recording.__init__.__signature__ = inspect.signature(cls.__init__)
        return Recording

    monkeypatch.setattr(registry_module, 'load_attribute', recording_load)
    config = with_null_switches(optimizer)
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1e-2), config)
    assert received['bias_correction'] is True
    assert received['adam_w_mode'] is True
    assert received['amsgrad'] is False
    losses = train_steps(model, built, 10)
    assert losses[-1] < losses[0]


def test_loaded_old_config_builds_with_the_fallbacks():
    # A version-0 config stores the optimizer settings flat; its switches were left null.
    data = {'optimizer': 'ADAFACTOR', 'optimizer_relative_step': None, 'optimizer_scale_parameter': None,
            'optimizer_warmup_init': None, 'model_type': 'STABLE_DIFFUSION_15', 'weight_dtype': 'FLOAT_32',
            'prior': {}}
    config = TrainConfig.default_values().from_dict(data)
    assert config.optimizer.relative_step is None
    built = create_optimizer(groups_for(tiny_model(), 1e-3), config)
    assert (built.defaults['relative_step'], built.defaults['scale_parameter']) == (True, True)
