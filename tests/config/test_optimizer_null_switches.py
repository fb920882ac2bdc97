"""Optimizer switches left `null` by old configs stay null, as in OneTrainer (which stores a loaded
boolean as it is); the optimizer then uses its fallback for them."""
from __future__ import annotations

import copy
import json

import pytest
from ot_test_paths import require_shared

from modules.config.enums import Optimizer
from modules.config.train_config import TrainConfig, TrainOptimizerConfig
from modules.config.validation import check_fields

SWITCHES = [f.name for f in TrainOptimizerConfig.FIELDS if f.type is bool]
HISTORIC = 'historic/sd15_lora_preset_2024-early.json'


def _null_paths(data, path=''):
    """Dotted paths of every null in a JSON tree."""
    if data is None:
        return {path}
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            found |= _null_paths(value, f'{path}.{key}' if path else key)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found |= _null_paths(value, f'{path}[{i}]')
    return found


def _round_trip(data: dict) -> tuple[TrainConfig, dict]:
    """Load `data` and save it as "Save config" does."""
    config = TrainConfig.default_values().from_dict(data)
    saved = json.loads(json.dumps(config.to_settings_dict()))
    return config, saved


def _v0_with_null_switches(historic: dict, optimizer: str, switches: list[str]) -> dict:
    """The historic version-0 preset as OneTrainer wrote it when it also held optimizer settings:
    flat `optimizer_<field>` keys, the switches left null."""
    data = copy.deepcopy(historic)
    data['optimizer'] = optimizer
    data['optimizer_weight_decay'] = 0.01
    for name in switches:
        data[f'optimizer_{name}'] = None
    return data


def test_every_switch_is_nullable_and_defaults_unchanged():
    assert len(SWITCHES) == 60
    defaults = TrainOptimizerConfig.default_values()
    for name in SWITCHES:
        f = TrainOptimizerConfig.get_field(name)
        assert f.nullable, name
        assert isinstance(getattr(defaults, name), bool), name  # null only when a file says so


def test_null_switch_loads_as_none_without_warning_and_saves_as_null():
    data = {name: None for name in SWITCHES}
    loaded = TrainOptimizerConfig.default_values().from_dict(data, migrate=False)
    assert loaded.load_warnings == []
    assert all(getattr(loaded, name) is None for name in SWITCHES)
    saved = loaded.to_dict()
    assert all(saved[name] is None for name in SWITCHES)
    assert check_fields(loaded) == []  # validation accepts the nulls
    # a real value still loads, and anything else is still refused (and reported)
    again = TrainOptimizerConfig.default_values().from_dict({'decouple': True, 'relative_step': 'yes'})
    assert again.decouple is True and again.relative_step is False
    assert [w.path for w in again.load_warnings] == ['relative_step']


def test_setting_a_switch_from_text_still_gives_a_boolean():
    config = TrainConfig.default_values()
    config.optimizer.decouple = None
    config.set_path_from_text('optimizer.decouple', 'true')
    assert config.optimizer.decouple is True


@pytest.mark.parametrize('optimizer, switches', [
    ('PRODIGY', ['decouple', 'use_bias_correction', 'safeguard_warmup', 'fsdp_in_use']),
    ('ADAFACTOR', ['relative_step', 'scale_parameter', 'warmup_init']),
    ('LAMB', ['bias_correction', 'adam_w_mode', 'amsgrad', 'block_wise']),
])
def test_version_0_config_keeps_its_null_switches_through_load_and_save(reference_dir, optimizer, switches):
    historic = json.loads(require_shared(reference_dir / HISTORIC).read_text())
    config, saved = _round_trip(_v0_with_null_switches(historic, optimizer, switches))
    assert config.load_warnings == []
    assert config.optimizer.optimizer == Optimizer[optimizer]
    assert config.optimizer.weight_decay == 0.01
    for name in switches:
        assert getattr(config.optimizer, name) is None, name
        assert saved['optimizer'][name] is None, name
        # the migration remembers the parameters per optimizer: the nulls are kept there as well
        assert saved['optimizer_defaults'][optimizer][name] is None, name
    # saving what was loaded again changes nothing
    assert _round_trip(saved)[1] == saved


@pytest.mark.parametrize('relative', [HISTORIC, 'examples/trainconfig.default.json'])
def test_reference_configs_keep_every_null(reference_dir, relative):
    data = json.loads(require_shared(reference_dir / relative).read_text())
    migrated = TrainConfig.migrate(data)
    config, saved = _round_trip(data)
    assert config.load_warnings == []
    kept = {path for path in _null_paths(migrated) if not path.startswith(('concepts', 'samples'))}
    assert kept <= _null_paths(saved)
    assert _round_trip(saved)[1] == saved


def test_reference_configs_with_null_switches_keep_them(reference_dir):
    data = json.loads(require_shared(reference_dir / 'examples/trainconfig.default.json').read_text())
    for name in SWITCHES:
        data['optimizer'][name] = None
    config, saved = _round_trip(data)
    assert config.load_warnings == []
    assert {name for name in SWITCHES if saved['optimizer'][name] is not None} == set()


def test_change_optimizer_overlays_remembered_null_switches():
    # What the UI does after loading a config whose remembered Prodigy settings hold a null switch.
    config = TrainConfig.default_values()
    config.from_dict({'optimizer': {'optimizer': 'PRODIGY', 'decouple': None},
                      'optimizer_defaults': {'PRODIGY': {'optimizer': 'PRODIGY', 'decouple': None}}},
                     migrate=False)
    config.change_optimizer(Optimizer.PRODIGY)
    assert config.optimizer.decouple is None
    config.load_optimizer_defaults()  # "Load defaults" sets the table's real value
    assert config.optimizer.decouple is True
