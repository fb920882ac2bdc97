"""Live-training test fixtures: a tiny SD 1.5 model and a tiny concept, built once per session,
a data folder per test, and a training session that is idle again after every test."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modules.config.enums import ModelType
    from modules.families.sd.tiny import build_tiny_sd

    return build_tiny_sd(ModelType.STABLE_DIFFUSION_15, tmp_path_factory.mktemp('models') / 'sd15')


@pytest.fixture(scope='session')
def concept_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp('concept')
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f'{i}.png')
        (folder / f'{i}.txt').write_text('a photo of sks')
    return folder


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


def tiny_run(config, data_dir: Path, model: Path, concept: Path, *, epochs: int = 2,
             sample_every: int = 0) -> None:
    """Point the live config at the tiny model and concept: CPU, 32 px, a few steps."""
    from modules.config.enums import ModelType, TimeUnit, TrainingMethod

    config.model_type = ModelType.STABLE_DIFFUSION_15
    config.training_method = TrainingMethod.LORA
    config.output_model_format = config.supported_output_formats()[0]
    config.base_model_name = str(model)
    config.train_device = 'cpu'
    config.temp_device = 'cpu'
    config.resolution = '32'
    config.batch_size = 1
    config.epochs = epochs
    config.lora_rank = 4
    config.tensorboard = False
    config.workspace_dir = 'workspace/run'
    config.cache_dir = 'workspace-cache/run'
    config.output_model_destination = 'models/out.safetensors'
    config.backup_after_unit = TimeUnit.NEVER
    config.save_every_unit = TimeUnit.NEVER
    config.sample_after = sample_every or 1
    config.sample_after_unit = TimeUnit.STEP if sample_every else TimeUnit.NEVER
    concepts = data_dir / 'training_concepts' / 'concepts.json'
    concepts.parent.mkdir(parents=True, exist_ok=True)
    concepts.write_text(json.dumps([{'name': 'c', 'path': str(concept), 'enabled': True}]))
    config.concept_file_name = 'training_concepts/concepts.json'
    samples = data_dir / 'training_samples' / 'samples.json'
    samples.parent.mkdir(parents=True, exist_ok=True)
    samples.write_text(json.dumps([{'prompt': 'a photo of sks', 'width': 32, 'height': 32, 'diffusion_steps': 2,
                                    'seed': 1}]))
    config.sample_definition_file_name = 'training_samples/samples.json'
