"""Stand-alone sampling: the CLI (OneTrainer's sample.py arguments plus LoRA files) and the dialog's
comparison grid, on a tiny random SD 1.5 and a LoRA file with random weights written by our writer."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault('HF_HUB_OFFLINE', '1')
torch.set_num_threads(1)

MODEL_TYPE = 'STABLE_DIFFUSION_15'


@pytest.fixture(scope='module')
def tiny_sd(tmp_path_factory) -> str:
    from modules.families import family_for

    return str(family_for(MODEL_TYPE).build_tiny(tmp_path_factory.mktemp('sd15') / 'model'))


@pytest.fixture(scope='module')
def lora_file(tiny_sd, tmp_path_factory) -> str:
    """A kohya LoRA for the tiny model with random (non-zero) up and down weights."""
    from modules.config.enums import ModelFormat, ModelType, TrainingMethod
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.train.methods import MethodSetup

    family = family_for(MODEL_TYPE)
    config = TrainConfig.default_values()
    config.model_type, config.training_method = ModelType(MODEL_TYPE), TrainingMethod.LORA
    setup = MethodSetup(family, family.load(tiny_sd, config), config)
    setup.setup()
    generator = torch.Generator().manual_seed(1)
    for group in setup.groups:
        for parameter in group.params:
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.5
    path = tmp_path_factory.mktemp('lora') / 'style.safetensors'
    setup.save_final(str(path), ModelFormat.KOHYA_LORA, None, {})
    return str(path)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB')).astype(np.float32)


def cli(*args: str) -> int:
    from modules.cli.sample import main

    return main(['--model-type', MODEL_TYPE, '--height', '32', '--width', '32', '--diffusion-steps', '2',
                 '--device', 'cpu', *args])


def test_cli_renders_with_and_without_a_lora_and_the_lora_changes_the_image(tiny_sd, lora_file, tmp_path):
    assert cli('--base-model-name', tiny_sd, '--prompt', 'a red cat', '--destination', str(tmp_path / 'base')) == 0
    assert cli('--base-model-name', tiny_sd, '--prompt', 'a red cat', '--destination', str(tmp_path / 'styled'),
               '--lora-name', lora_file) == 0
    base, styled = pixels(tmp_path / 'base.jpg'), pixels(tmp_path / 'styled.jpg')
    assert base.shape == styled.shape == (32, 32, 3)
    assert np.abs(base - styled).mean() > 2  # a JPG round trip alone differs by well under 1
    sidecar = json.loads((tmp_path / 'styled.json').read_text())
    assert sidecar['prompt'] == 'a red cat' and sidecar['seed'] == 42 and sidecar['steps'] == 2
    assert sidecar['lora'] == lora_file and sidecar['base_model'] == tiny_sd and sidecar['file'] == 'styled.jpg'
    assert json.loads((tmp_path / 'base.json').read_text())['lora'] == ''


def test_cli_compares_several_loras_on_one_seed_loading_the_base_once(tiny_sd, lora_file, tmp_path, capsys):
    import shutil

    copy = shutil.copy(lora_file, tmp_path / 'same.safetensors')
    assert cli('--base-model-name', tiny_sd, '--prompt', 'a red cat', '--destination', str(tmp_path / 'cmp'),
               '--lora-name', lora_file, '--lora-name', str(copy), '--seed', '7') == 0
    first, second = (tmp_path / 'cmp-style.jpg'), (tmp_path / 'cmp-same.jpg')
    assert json.loads((tmp_path / 'cmp-same.json').read_text())['seed'] == 7
    log = capsys.readouterr().err
    assert log.count('Loading ') == 1
    assert np.array_equal(pixels(first), pixels(second))


def test_the_base_is_restored_when_the_lora_is_taken_off(tiny_sd, lora_file, tmp_path):
    from modules.config.enums import ModelType
    from modules.config.sample_config import SampleConfig
    from modules.tools import sampling
    from modules.tools.task import ToolTask

    sample = SampleConfig.for_model_type(ModelType(MODEL_TYPE))
    sample.prompt, sample.width, sample.height, sample.diffusion_steps = 'a dog', 32, 32, 2
    cache, task = sampling.ModelCache(), ToolTask(on_log=lambda _: None)
    key = sampling.BaseModel(ModelType(MODEL_TYPE), tiny_sd)
    results = sampling.render_grid(task, cache, key, ['', lora_file, ''], [sample], tmp_path)
    assert [(r.row, r.column) for r in results] == [(0, 0), (0, 1), (0, 2)]
    images = [pixels(r.path) for r in results]
    assert np.array_equal(images[0], images[2]) and not np.array_equal(images[0], images[1])
    assert cache.key == key and cache.lora == ''
    assert len({r.path for r in results}) == 3 and all(r.path.with_suffix('.json').is_file() for r in results)


def test_a_missing_base_model_or_lora_is_one_line_and_writes_nothing(tmp_path, tiny_sd, capsys):
    missing = str(tmp_path / 'no-such-model')
    assert cli('--base-model-name', missing, '--prompt', 'x', '--destination', str(tmp_path / 'out' / 'x')) == 1
    error = capsys.readouterr().err.strip()
    assert error == f'error: the base model {missing} does not exist'
    assert cli('--base-model-name', tiny_sd, '--prompt', 'x', '--destination', str(tmp_path / 'out' / 'x'),
               '--lora-name', str(tmp_path / 'nope.safetensors')) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith('error: the LoRA file')
    assert not (tmp_path / 'out').exists()


def test_cli_help_lists_onetrainers_arguments(capsys):
    from modules.cli.sample import build_parser

    text = build_parser().format_help()
    for name in ('--model-type', '--weight-dtype', '--base-model-name', '--embedding-name', '--prompt',
                 '--negative-prompt', '--height', '--width', '--destination', '--text-encoder-layer-skip',
                 '--sample-inpainting', '--base-image-path', '--mask-image-path', '--lora-name'):
        assert name in text
