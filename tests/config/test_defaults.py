"""The default configs serialise exactly as OneTrainer's do."""
from __future__ import annotations

import json

import pytest

from modules.config.cloud_config import CloudConfig
from modules.config.concept_config import ConceptConfig
from modules.config.sample_config import SampleConfig
from modules.config.secrets_config import SecretsConfig
from modules.config.train_config import TrainConfig

# Defaults that are random or machine-dependent by design: the reference marks exactly these
# as `<dynamic: ...>`, and only these go uncompared.
DYNAMIC = {'train_device', 'embedding.uuid', 'seed'}


def _differences(ours, reference, path=''):
    if isinstance(reference, str) and reference.startswith('<dynamic'):
        return [] if path in DYNAMIC else [(path, ours, reference)]
    if isinstance(reference, dict):
        if not isinstance(ours, dict):
            return [(path, ours, reference)]
        found = []
        if list(ours) != list(reference):
            found.append((path + ' (key order)', list(ours), list(reference)))
        for key in reference:
            found += _differences(ours.get(key, '<missing>'), reference[key], f'{path}.{key}'.lstrip('.'))
        return found
    if ours != reference or type(ours) is not type(reference):
        return [(path, ours, reference)]
    return []


@pytest.mark.parametrize('cls, file_name', [
    (TrainConfig, 'trainconfig_fields.json'),
    (ConceptConfig, 'conceptconfig_fields.json'),
    (SampleConfig, 'sampleconfig_fields.json'),
    (CloudConfig, 'cloudconfig_fields.json'),
    (SecretsConfig, 'secretsconfig_fields.json'),
])
def test_default_serialises_to_reference(reference_dir, cls, file_name):
    reference = json.loads((reference_dir / file_name).read_text())['default_json']
    assert _differences(cls.default_values().to_dict(), reference) == []


def test_every_reference_field_is_declared(reference_dir):
    fields = json.loads((reference_dir / 'trainconfig_fields.json').read_text())['fields']
    config = TrainConfig.default_values()
    missing = []
    for entry in fields:
        if entry['container'] != 'direct':
            continue
        try:
            config.resolve(entry['path'])
        except Exception:
            missing.append(entry['path'])
    assert missing == []
    assert len([e for e in fields if e['container'] == 'direct']) == 499


def test_sample_defaults_per_model_type(reference_dir):
    from modules.config.enums import ModelType

    resolved = json.loads((reference_dir / 'sampleconfig_fields.json').read_text())['resolved_defaults_by_model_type']
    for name, expected in resolved.items():
        sample = SampleConfig.for_model_type(ModelType[name]).to_dict()
        assert {k: sample[k] for k in expected} == expected, name


def test_dynamic_defaults_differ_per_instance():
    assert TrainConfig.default_values().embedding.uuid != TrainConfig.default_values().embedding.uuid
    seeds = {ConceptConfig.default_values().seed for _ in range(5)}
    assert len(seeds) > 1


def test_round_trip_of_non_default_values():
    config = TrainConfig.default_values()
    config.learning_rate = float('inf')
    config.unet.learning_rate = 1e-5
    config.text_encoder.stop_training_after = None
    data = config.to_dict()
    assert data['learning_rate'] == 'inf'
    again = TrainConfig.default_values().from_dict(json.loads(json.dumps(data)))
    assert again.learning_rate == float('inf')
    # The SSH port is declared as text with the number 0 as default: one load turns it into "0",
    # exactly as in OneTrainer; everything else is unchanged.
    data['secrets']['cloud']['port'] = '0'
    assert again.to_dict() == data


def test_every_field_has_metadata_for_the_ui():
    from modules.config.base import humanize

    config = TrainConfig.default_values()
    for path, _owner, field in config.iter_fields():
        assert field.display_label, path
        if field.kind == 'enum':
            assert field.choices and all(choice.label for choice in field.choices), path
        if field.min is not None and field.max is not None:
            assert field.min <= field.max, path
    assert humanize('ema_decay') == 'EMA decay'
    assert TrainConfig.get_field('batch_size').min == 1
    assert TrainConfig.get_field('optimizer').tooltip
