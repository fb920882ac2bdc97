"""Live-training test fixtures: a tiny SD 1.5 model and a tiny concept, built once per session,
a data folder per test, and a training session that is idle again after every test."""
from __future__ import annotations

from pathlib import Path

import pytest

import modules.engine as engine
from live.support import FakeTrainer, build_concept, build_model
from modules.config.concept_config import ConceptConfig
from modules.config.train_config import TrainConfig


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp('models') / 'sd15')


@pytest.fixture(scope='session')
def concept_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_concept(tmp_path_factory.mktemp('concept'))


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data folder lives in tmp, never in the repository."""
    folder = tmp_path / 'data'
    folder.mkdir()
    monkeypatch.setenv('OT_DATA_DIR', str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.fixture(autouse=True)
def idle_training():
    """A run a test leaves behind is stopped; the next test starts from a clean session."""
    from ot_nicegui.state.training_session import get_training_session

    session = get_training_session()
    yield session
    session.stop()
    assert session.wait(120), 'the training thread did not end'
    session.drain()
    if session.busy:  # the end event was consumed by an earlier relay that no longer runs
        session.phase = session.phase.IDLE
    session.reset()


@pytest.fixture
def feed_messages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict, list[str]]]:
    """Every live-feed message from now on, with the rooms (page clients) it went to."""
    from nicegui import core

    from ot_nicegui.widgets.live_feed import EVENT

    sent: list[tuple[dict, list[str]]] = []
    original = core.sio.emit

    async def emit(event, data=None, *args, room=None, **kwargs):
        if event == EVENT:
            sent.append((data, list(room)))
        return await original(event, data, *args, room=room, **kwargs)

    monkeypatch.setattr(core.sio, 'emit', emit)
    return sent


@pytest.fixture
def config(tmp_path: Path) -> TrainConfig:
    cfg = TrainConfig.default_values()
    (tmp_path / 'model').mkdir()
    (tmp_path / 'images').mkdir()
    cfg.base_model_name = str(tmp_path / 'model')
    concept = ConceptConfig.default_values()
    concept.path = str(tmp_path / 'images')
    cfg.concepts = [concept]
    cfg.samples = []
    cfg.workspace_dir = str(tmp_path / 'ws')
    cfg.output_model_format = cfg.supported_output_formats()[0]
    return cfg


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    created = []

    def create(config, callbacks=None, commands=None):
        trainer = FakeTrainer(config, callbacks, commands)
        created.append(trainer)
        return trainer

    monkeypatch.setattr(engine, 'create_trainer', create)
    FakeTrainer.steps, FakeTrainer.fail_in, FakeTrainer.gate = 1000, None, None
    return created
