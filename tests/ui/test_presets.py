"""Presets from the top bar: load, save, save as, rename, delete; built-ins stay read-only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from nicegui.testing import User

from modules.config.base import ConfigError
from modules.config.enums import ModelType, TrainingMethod
from ot_nicegui.state.config_session import ConfigSession, get_session


@pytest.fixture(autouse=True)
def builtins(builtin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv('OT_BUILTIN_PRESETS', str(builtin_dir))
    return builtin_dir


async def test_load_a_builtin_preset_from_the_menu(user: User) -> None:
    await user.open('/')
    user.find(marker='preset-picker').click()
    user.find(marker='preset-item-#sd lora').click()
    cfg = get_session().config
    assert cfg.training_method == TrainingMethod.LORA and cfg.lora_rank == 32 and cfg.learning_rate == 0.0003
    await user.should_see('Loaded preset "#sd lora"')
    await user.should_see(marker='tab-lora')


async def test_save_as_rename_delete(user: User, data_dir: Path) -> None:
    await user.open('/')
    session = get_session()
    session.config.learning_rate = 0.25
    user.find(marker='preset-save-as').click()
    await user.should_see(marker='preset-name')
    user.find(marker='preset-name').clear().type('my run')
    user.find(marker='preset-name-ok').click()
    saved = data_dir / 'training_presets' / 'user' / 'my run.json'
    await user.should_see('Saved preset "my run"')
    assert json.loads(saved.read_text())['learning_rate'] == 0.25
    assert session.preset_name == 'my run' and not session.dirty

    user.find(marker='preset-rename').click()
    await user.should_see(marker='preset-name')
    user.find(marker='preset-name').clear().type('renamed')
    user.find(marker='preset-name-ok').click()
    await user.should_see('Renamed preset "my run" to "renamed"')
    assert not saved.exists() and (saved.parent / 'renamed.json').exists()

    user.find(marker='preset-delete').click()
    await user.should_see(marker='confirm-ok')
    user.find(marker='confirm-ok').click()
    await user.should_see('Deleted preset "renamed"')
    assert not (saved.parent / 'renamed.json').exists()


async def test_unsafe_preset_names_are_refused(user: User) -> None:
    await user.open('/')
    user.find(marker='preset-save-as').click()
    await user.should_see(marker='preset-name')
    user.find(marker='preset-name').clear().type('../escape')
    user.find(marker='preset-name-ok').click()
    await user.should_see('Must be a plain name')
    assert get_session().preset_name is None


async def test_saving_a_builtin_asks_for_a_new_name(user: User, builtins: Path) -> None:
    await user.open('/')
    session = get_session()
    session.load_preset('#sd lora')
    before = (builtins / 'SD' / '#sd lora.json').read_text()
    session.config.lora_rank = 4
    user.find(marker='preset-save').click()
    await user.should_see(marker='preset-name')  # the save-as dialog, never an overwrite
    assert (builtins / 'SD' / '#sd lora.json').read_text() == before


def test_builtins_are_read_only(data_dir: Path, builtin_dir: Path) -> None:
    session = ConfigSession(data_dir, builtin_dir)
    session.load_preset('#sd lora')
    for action in (lambda: session.save_preset(), lambda: session.rename_preset('#sd lora', 'x'),
                   lambda: session.delete_preset('#sd lora'), lambda: session.save_preset('#mine')):
        with pytest.raises(ConfigError):
            action()
    assert (builtin_dir / 'SD' / '#sd lora.json').exists()


def test_last_session_survives_a_restart(data_dir: Path, builtin_dir: Path) -> None:
    session = ConfigSession(data_dir, builtin_dir)
    session.load_preset('#sd lora')
    session.config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    session.config.epochs = 3
    session.flush()
    restored = ConfigSession(data_dir, builtin_dir)
    assert restored.restore_last_session()
    assert restored.config.model_type == ModelType.STABLE_DIFFUSION_XL_10_BASE and restored.config.epochs == 3
    assert restored.preset_name == '#sd lora'
    assert {c.path for c in restored.changes()} >= {'model_type', 'epochs'}


def test_secrets_stay_in_secrets_json(data_dir: Path, builtin_dir: Path) -> None:
    session = ConfigSession(data_dir, builtin_dir)
    session.config.secrets.huggingface_token = 'hf_secret_value'
    session.save_preset('with token')
    session.flush()
    preset = (data_dir / 'training_presets' / 'user' / 'with token.json').read_text()
    assert 'hf_secret_value' not in preset
    assert 'hf_secret_value' not in (data_dir / 'training_presets' / '#.json').read_text()
    assert json.loads((data_dir / 'secrets.json').read_text())['huggingface_token'] == 'hf_secret_value'
    assert 'hf_secret_value' not in json.dumps(session.export_pack())
    session.load_preset('#sd lora')  # secrets are re-read from secrets.json after every load
    assert session.config.secrets.huggingface_token == 'hf_secret_value'


async def test_import_and_export(user: User, data_dir: Path) -> None:
    await user.open('/')
    session = get_session()
    packed = {'__version': 11, 'model_type': 'FLUX_DEV_1', 'training_method': 'LORA', 'epochs': 9,
              'concepts': [{'name': 'cats', 'path': 'cats'}], 'samples': None}
    from ot_nicegui.widgets.preset_bar import PresetBar  # the upload handler, without a browser upload
    bar = PresetBar.__new__(PresetBar)
    bar.session, bar.announce = session, lambda _m: None
    with user:
        await bar.import_upload('run.json', json.dumps(packed).encode())
    assert session.config.model_type == ModelType.FLUX_DEV_1 and session.config.epochs == 9
    concepts = data_dir / 'training_concepts' / 'run.json'
    assert session.config.concept_file_name == 'training_concepts/run.json'
    assert json.loads(concepts.read_text())[0]['name'] == 'cats'
    pack = session.export_pack()
    assert pack['concepts'][0]['name'] == 'cats' and pack['samples'] == [] and 'secrets' not in pack
