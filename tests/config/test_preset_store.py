"""The preset store: built-in protection, refused traversal, atomic writes."""
from __future__ import annotations

import json
import os

import pytest

from modules.config import files
from modules.config.base import ConfigError
from modules.config.enums import Optimizer
from modules.config.presets import PresetStore, check_name, contained_path
from modules.config.train_config import TrainConfig


@pytest.fixture
def store(tmp_path):
    (tmp_path / 'SD').mkdir()
    (tmp_path / 'SD' / '#builtin.json').write_text(json.dumps({'learning_rate': 0.5, 'batch_size': 3}))
    return PresetStore(tmp_path)


def test_builtin_loads_without_migration(store):
    config = store.load('#builtin')
    assert config.learning_rate == 0.5 and config.batch_size == 3


def test_save_load_rename_delete(store):
    config = TrainConfig.default_values()
    config.epochs = 42
    store.save('mine', config)
    assert [p.name for p in store.grouped()['User']] == ['mine']
    assert store.load('mine').epochs == 42
    store.rename('mine', 'yours')
    assert store.load('yours').epochs == 42
    with pytest.raises(ConfigError):
        store.find('mine')
    store.delete('yours')
    assert 'User' not in store.grouped()


def test_saved_preset_has_no_secrets_or_lists(store):
    config = TrainConfig.default_values()
    config.secrets.huggingface_token = 'hf_secret_value'
    info = store.save('mine', config)
    data = json.loads(info.path.read_text())
    assert 'secrets' not in data and 'hf_secret_value' not in info.path.read_text()
    assert data['concepts'] is None and data['samples'] is None and data['__version'] == 11


@pytest.mark.parametrize('action', ['save', 'rename', 'delete'])
def test_builtin_is_read_only(store, action):
    before = (store.root / 'SD' / '#builtin.json').read_text()
    with pytest.raises(ConfigError):
        if action == 'save':
            store.save('#builtin', TrainConfig.default_values())
        elif action == 'rename':
            store.rename('#builtin', 'other')
        else:
            store.delete('#builtin')
    assert (store.root / 'SD' / '#builtin.json').read_text() == before


@pytest.mark.parametrize('name', ['../evil', '..', 'a/b', 'a\\b', '/etc/passwd', '~root', 'x\0y', '', '   ',
                                  'C:evil', '#reserved', 'a\nb'])
def test_bad_names_refused(store, tmp_path, name):
    with pytest.raises(ConfigError):
        store.save(name, TrainConfig.default_values())
    assert not (tmp_path.parent / 'evil.json').exists()


def test_contained_path_refuses_escape(tmp_path):
    assert contained_path(tmp_path, 'a.json') == (tmp_path / 'a.json').resolve()
    with pytest.raises(ConfigError):
        contained_path(tmp_path, '../x.json')
    os.symlink('/', tmp_path / 'root-link')
    with pytest.raises(ConfigError):
        contained_path(tmp_path, 'root-link/etc/passwd')
    assert check_name(' ok name ') == 'ok name'


def test_last_session(store):
    assert store.load_last_session() is None
    config = TrainConfig.default_values()
    config.optimizer.optimizer = Optimizer.LION
    store.save_last_session(config)
    assert store.load_last_session().optimizer.optimizer == Optimizer.LION
    assert all(info.name != '#' for info in store.list())


def test_atomic_write_survives_crash_between_write_and_rename(tmp_path, monkeypatch):
    target = tmp_path / 'preset.json'
    files.atomic_write_json(target, {'old': True})

    def crash(*_args):
        raise OSError('simulated crash before rename')

    monkeypatch.setattr(files.os, 'replace', crash)
    with pytest.raises(OSError):
        files.atomic_write_json(target, {'new': True})
    assert json.loads(target.read_text()) == {'old': True}
    assert [p.name for p in tmp_path.iterdir()] == ['preset.json'], 'no temporary file is left behind'


def test_unreadable_files_give_clear_errors(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{not json')
    with pytest.raises(ConfigError, match='not valid JSON'):
        PresetStore(tmp_path).load('bad')
    with pytest.raises(ConfigError, match='holds a JSON object, this one holds list'):
        (tmp_path / 'list.json').write_text('[]')
        PresetStore(tmp_path).load('list')


def test_secrets_file(tmp_path):
    from modules.config.secrets_config import mask_secret

    path = tmp_path / 'secrets.json'
    secrets = files.load_secrets(path)
    assert secrets.huggingface_token == ''
    secrets.huggingface_token = 'hf_abcdefghijkl'
    files.save_secrets(path, secrets)
    assert oct(path.stat().st_mode & 0o777) == '0o600'
    assert files.load_secrets(path).huggingface_token == 'hf_abcdefghijkl'
    assert 'abcdefgh' not in mask_secret('hf_abcdefghijkl') and mask_secret('') == ''
    with pytest.raises(ConfigError):
        files.load_secrets(tmp_path / 'missing.json', required=True)


def test_concept_and_sample_files(tmp_path):
    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import ModelType
    from modules.config.sample_config import SampleConfig

    concept = ConceptConfig.default_values()
    concept.name, concept.path = 'cats', 'data/cats'
    files.save_concepts(tmp_path / 'c.json', [concept])
    assert files.load_concepts(tmp_path / 'c.json')[0] == concept
    (tmp_path / 's.json').write_text(json.dumps([{'prompt': 'a cat'}]))
    sample = files.load_samples(tmp_path / 's.json', ModelType.STABLE_DIFFUSION_XL_10_BASE)[0]
    assert sample.prompt == 'a cat' and sample.width == 1024, 'missing keys take the model-type defaults'
    files.save_samples(tmp_path / 's2.json', [SampleConfig.default_values()])
    assert json.loads((tmp_path / 's2.json').read_text())[0]['__version'] == 0
