"""Property-based fuzzing of config, concept and sample dicts.

Every input either loads (possibly with warnings) or raises one ConfigError naming the field; no
other exception escapes, and a failed load or save changes no file on disk.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modules.config.base import ConfigError
from modules.config.concept_config import ConceptConfig
from modules.config.enums import ModelType
from modules.config.files import load_concepts, load_samples
from modules.config.presets import PresetStore, load_config_file
from modules.config.sample_config import SampleConfig
from modules.config.train_config import TrainConfig

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(['inf', '-inf', 'NaN', '1e400', 'FLOAT_16', 'LORA', 'EPOCH', 'ADAMW', 'ON',
                                     'CPU_OFFLOADED', 'SAFETENSORS', 'STABLE_CASCADE_1', '3', '0.5']))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


def _keys_of(cls) -> list[str]:
    names = ['__version']
    for f in cls.FIELDS:
        names.append(f.name)
    return names


TRAIN_KEYS = _keys_of(TrainConfig) + [
    # keys of older versions that migrations consume
    'optimizer_beta1', 'train_unet', 'train_unet_epochs', 'unet_learning_rate', 'weight_dtype', 'min_snr_gamma',
    'noising_bias', 'save_after', 'lora_layers', 'lora_layer_preset', 'embedding_model_names',
    'enable_activation_offloading', 'layer_offload_fraction', 'enable_async_offloading', 'repeats',
]
PART_KEYS = _keys_of(TrainConfig.get_field('unet').type)


def _config_dicts(keys: list[str]):
    value = st.one_of(json_values, st.dictionaries(st.sampled_from(PART_KEYS), json_values, max_size=4),
                      st.lists(st.dictionaries(st.sampled_from(_keys_of(ConceptConfig)), json_values, max_size=3),
                               max_size=2))
    version = st.one_of(st.integers(min_value=-2, max_value=13), json_values)
    return st.fixed_dictionaries({}, optional={'__version': version}).flatmap(
        lambda base: st.dictionaries(st.sampled_from(keys), value, max_size=8).map(lambda d: {**d, **base}))


def _assert_loads_or_names_field(load):
    try:
        config = load()
    except ConfigError as exc:
        assert str(exc)
        return None
    json.dumps(config.to_dict(), allow_nan=False)  # whatever loaded serialises to strict JSON
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_config_dicts(TRAIN_KEYS), migrate=st.booleans())
@example(data={'__version': '1e400'}, migrate=True)
@example(data={'ema_update_step_interval': '-1e400'}, migrate=False)
def test_train_config_dicts(data, migrate):
    config = _assert_loads_or_names_field(lambda: TrainConfig.default_values().from_dict(data, migrate=migrate))
    if config is not None:
        again = TrainConfig.default_values().from_dict(config.to_dict())
        assert again.to_settings_dict() == TrainConfig.default_values().from_dict(again.to_dict()).to_settings_dict()


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(json_values, st.dictionaries(st.sampled_from(_keys_of(ConceptConfig) + ['repeats',
                                                                                             'validation_concept']),
                                                   json_values, max_size=6)))
@example(data={'image': None, 'concept_stats': {'': float('inf')}})
def test_concept_dicts(data):
    _assert_loads_or_names_field(lambda: ConceptConfig.default_values().from_dict(data))


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(json_values, st.dictionaries(st.sampled_from(_keys_of(SampleConfig)), json_values, max_size=6)),
       model_type=st.sampled_from(list(ModelType)))
def test_sample_dicts(data, model_type):
    _assert_loads_or_names_field(lambda: SampleConfig.for_model_type(model_type).from_dict(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=40), json_values.map(json.dumps)))
def test_files_are_never_changed_by_loading(tmp_path, text):
    path = tmp_path / 'config.json'
    path.write_text(text, encoding='utf-8')
    before = path.read_bytes()
    for load in (lambda: load_config_file(path), lambda: load_config_file(path, preset=True),
                 lambda: load_concepts(path), lambda: load_samples(path)):
        try:
            load()
        except ConfigError as exc:
            assert exc.path
    assert path.read_bytes() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=20))
def test_failed_saves_change_nothing(tmp_path, name):
    store = PresetStore(tmp_path / 'presets')
    (tmp_path / 'presets').mkdir(exist_ok=True)
    snapshot = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*'))
    try:
        info = store.save(name, TrainConfig.default_values())
    except ConfigError:
        assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == snapshot
    else:
        assert info.path.parent == (tmp_path / 'presets').resolve()
        info.path.unlink()
