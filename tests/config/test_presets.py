"""Built-in presets (OneTrainer's and ours) load, serialise, reload and compare equal."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from ot_test_paths import REPO_ROOT, shared_reference_dir

from modules.config.enums import ModelType
from modules.config.presets import PresetStore, load_config_file
from modules.config.train_config import TrainConfig
from modules.config.validation import check_combinations, check_fields

OUR_PRESETS = sorted((REPO_ROOT / 'training_presets').rglob('#*.json'))
REFERENCE_PRESETS = sorted((shared_reference_dir() / 'onetrainer_presets').rglob('*.json'))
# without the reference folder the list is empty: one case remains, which the `reference_dir`
# fixture fails with the missing path (an empty parameter list would only skip)
REFERENCE_CASES = REFERENCE_PRESETS or [pytest.param(None, id='reference-presets')]


def _round_trip(path: Path) -> None:
    config = load_config_file(path, preset=True)
    settings = config.to_settings_dict()
    reloaded = TrainConfig.default_values().from_dict(json.loads(json.dumps(settings)))
    assert reloaded.to_settings_dict() == settings
    assert reloaded == config


@pytest.mark.parametrize('path', REFERENCE_CASES, ids=lambda p: p.name)
def test_reference_preset_round_trip(reference_dir, path):
    _round_trip(path)


def test_reference_preset_count(reference_dir):
    assert len(REFERENCE_PRESETS) == 60


@pytest.mark.parametrize('path', OUR_PRESETS, ids=lambda p: p.name)
def test_our_preset_round_trip_and_is_valid(path):
    _round_trip(path)
    config = load_config_file(path, preset=True)
    assert check_fields(config) == []
    assert check_combinations(config) == []
    assert '__version' not in json.loads(path.read_text()), 'built-in presets are sparse and unversioned'


def test_our_presets_cover_every_reference_preset(reference_dir):
    ours = {(str(c.model_type), str(c.training_method), str(c.output_model_format))
            for c in (load_config_file(p, preset=True) for p in OUR_PRESETS)}
    theirs = {(str(c.model_type), str(c.training_method), str(c.output_model_format))
              for c in (load_config_file(p, preset=True) for p in REFERENCE_PRESETS)}
    assert theirs <= ours


def test_preset_values_applied(reference_dir):
    config = load_config_file(reference_dir / 'onetrainer_presets' / 'SD1.5' / '#sd 1.5 LoRA.json', preset=True)
    assert config.model_type == ModelType.STABLE_DIFFUSION_15
    assert config.learning_rate == 0.0003 and config.batch_size == 4
    assert str(config.unet.weight_dtype) == 'FLOAT_16'


def test_store_lists_our_presets_grouped():
    store = PresetStore(REPO_ROOT / 'training_presets')
    groups = store.grouped()
    assert 'SD1.5' in groups and 'SDXL' in groups
    assert all(info.builtin for infos in groups.values() for info in infos if info.group != 'User')
