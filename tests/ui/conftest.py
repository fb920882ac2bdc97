"""UI test fixtures: every test gets its own data folder and a fresh config session."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data folder (user presets, last session, secrets) lives in tmp, never in the repo."""
    folder = tmp_path / 'data'
    folder.mkdir()
    monkeypatch.setenv('OT_DATA_DIR', str(folder))
    monkeypatch.chdir(tmp_path)  # relative paths in configs resolve under tmp as well
    return folder


@pytest.fixture
def builtin_dir(tmp_path: Path) -> Path:
    """A folder of built-in presets, as the repository ships them (one group, one preset)."""
    folder = tmp_path / 'builtin'
    (folder / 'SD').mkdir(parents=True)
    (folder / 'SD' / '#sd lora.json').write_text(json.dumps({
        'model_type': 'STABLE_DIFFUSION_15', 'training_method': 'LORA', 'learning_rate': 0.0003,
        'lora_rank': 32, 'optimizer': {'optimizer': 'ADAMW'},
    }))
    return folder


def session_of(user) -> object:
    from ot_nicegui.state.config_session import get_session

    return get_session()
