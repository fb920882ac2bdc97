"""Stand-alone sampling: the CLI (OneTrainer's sample.py arguments plus LoRA files) and the dialog's
comparison grid, on a tiny random SD 1.5 and a LoRA file with random weights written by our writer."""
from __future__ import annotations

import json
import os
from pathlib import Path

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


@pytest.fixture(scope='module')
def module_cache():
    from modules.tools import sampling

    return sampling.ModelCache()


@pytest.mark.parametrize(('peft_type', 'fields', 'fmt'), [
    ('LORA', {'lora_decompose': True}, 'DIFFUSERS_LORA'),
    ('LOHA', {}, 'COMFY_LORA'),
    ('LOKR', {'lokr_decompose_factor': 4}, 'KOHYA_LORA'),
    ('OFT_2', {'oft_block_size': 8}, 'KOHYA_LORA'),
])
def test_every_adapter_type_renders_what_the_trained_model_renders(tiny_sd, tmp_path, module_cache,
                                                                     peft_type, fields, fmt):
    from modules.config.enums import ModelFormat, ModelType, PeftType, TrainingMethod
    from modules.config.sample_config import SampleConfig
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.tools import sampling
    from modules.tools.task import ToolTask
    from modules.train.methods import MethodSetup

    family = family_for(MODEL_TYPE)
    config = TrainConfig.default_values()
    config.model_type, config.training_method = ModelType(MODEL_TYPE), TrainingMethod.LORA
    config.peft_type = PeftType(peft_type)
    for name, value in fields.items():
        setattr(config, name, value)
    trained = family.load(tiny_sd, config)
    setup = MethodSetup(family, trained, config)
    setup.setup()
    generator = torch.Generator().manual_seed(2)
    for group in setup.groups:
        for parameter in group.params:
            parameter.data = parameter.data + torch.randn(parameter.shape, generator=generator) * 0.1
    sample = SampleConfig.for_model_type(ModelType(MODEL_TYPE))
    sample.prompt, sample.width, sample.height, sample.diffusion_steps = 'a cat', 32, 32, 2
    expected = np.asarray(family.sample(trained, sample))
    path = tmp_path / 'adapter.safetensors'
    setup.save_final(str(path), ModelFormat(fmt), None, {})

    key = sampling.BaseModel(ModelType(MODEL_TYPE), tiny_sd)
    image, metadata = sampling.render_one(module_cache, key, str(path), sample, ToolTask(on_log=lambda _: None))
    assert np.array_equal(np.asarray(image), expected)
    base, _ = sampling.render_one(module_cache, key, sampling.NO_LORA, sample, ToolTask(on_log=lambda _: None))
    assert not np.array_equal(np.asarray(base), expected)


def test_a_missing_base_model_or_lora_is_one_line_and_writes_nothing(tmp_path, tiny_sd, capsys):
    missing = str(tmp_path / 'no-such-model')
    assert cli('--base-model-name', missing, '--prompt', 'x', '--destination', str(tmp_path / 'out' / 'x')) == 1
    error = capsys.readouterr().err.strip()
    assert error == f'error: the base model {missing} does not exist'
    assert cli('--base-model-name', tiny_sd, '--prompt', 'x', '--destination', str(tmp_path / 'out' / 'x'),
               '--lora-name', str(tmp_path / 'nope.safetensors')) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith('error: the LoRA file')
    garbage = tmp_path / 'garbage.safetensors'
    garbage.write_bytes(b'not an adapter file')
    assert cli('--base-model-name', tiny_sd, '--prompt', 'x', '--destination', str(tmp_path / 'out' / 'x'),
               '--lora-name', str(garbage)) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f'error: cannot apply the LoRA {garbage}: ')
    assert not (tmp_path / 'out').exists()


def test_cli_help_lists_onetrainers_arguments(capsys):
    from modules.cli.sample import build_parser

    text = build_parser().format_help()
    for name in ('--model-type', '--weight-dtype', '--base-model-name', '--embedding-name', '--prompt',
                 '--negative-prompt', '--height', '--width', '--destination', '--text-encoder-layer-skip',
                 '--sample-inpainting', '--base-image-path', '--mask-image-path', '--lora-name'):
        assert name in text


# ---- the dialog ----------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / 'data'
    folder.mkdir()
    monkeypatch.setenv('OT_DATA_DIR', str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


async def until(condition, seconds: float = 60) -> None:
    import asyncio

    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError('the condition did not come true in time')


def texts(user, marker: str) -> list[str]:
    from nicegui import ElementFilter

    with user:
        return [e.text for e in sorted(ElementFilter(marker=marker), key=lambda e: e.id)]


async def open_tool(user) -> None:
    from nicegui import ui
    from nicegui.testing.user_interaction import UserInteraction

    await user.open('/?tab=tools')
    await user.should_see('Sampling')
    with user:
        (button,) = [b for b in user.find(kind=ui.button, content='Open').elements
                     if b.props.get('aria-label') == '"Open Sampling"' or 'Sampling' in str(b.props.get('aria-label'))]
    UserInteraction(user, {button}, None).click()
    await user.should_see(marker='sampling-dialog')


def fill(user, marker: str, text: str) -> None:
    user.find(marker=marker).clear().type(text)


async def test_the_dialog_renders_a_comparison_grid_with_metadata(data_dir, user, tiny_sd, lora_file):
    from nicegui import ElementFilter, ui

    await open_tool(user)
    fill(user, 'sampling-base_model', tiny_sd)
    fill(user, 'sample-prompt', 'a red cat\na blue dog')
    for name, value in (('width', '32'), ('height', '32'), ('diffusion_steps', '2')):
        fill(user, f'sample-{name}', value)
    user.find(marker='sampling-lora-add').click()
    fill(user, 'sampling-lora-0', lora_file)
    user.find(marker='sampling-render').click()
    await until(lambda: len(texts(user, 'sampling-metadata')) == 4 or 'Stopped' in ''.join(
        texts(user, 'tool-sampling-status')))
    with user:
        (log,) = ElementFilter(marker='tool-sampling-log')
    assert texts(user, 'tool-sampling-status') == ['Done'], [line.text for line in log.default_slot.children]
    assert texts(user, 'sampling-column') == ['no LoRA', 'style.safetensors']
    assert texts(user, 'sampling-row') == ['a red cat', 'a blue dog']
    assert all(t.startswith('seed 42 · 2 steps · cfg ') for t in texts(user, 'sampling-metadata'))
    with user:
        images = sorted(user.find(kind=ui.image, marker='sampling-image').elements, key=lambda e: e.id)
    assert len(images) == 4
    sidecars = sorted((data_dir / 'samples').glob('*.json'))
    metadata = [json.loads(p.read_text()) for p in sidecars]
    assert sorted((m['prompt'], m['lora']) for m in metadata) == sorted(
        (p, lo) for p in ('a red cat', 'a blue dog') for lo in ('', lora_file))
    by_cell = {(m['prompt'], m['lora']): data_dir / 'samples' / m['file'] for m in metadata}
    assert np.abs(pixels(by_cell['a red cat', '']) - pixels(by_cell['a red cat', lora_file])).mean() > 2
    assert all(m['base_model'] == tiny_sd and m['steps'] == 2 and m['seconds'] >= 0 for m in metadata)

    # opened again, the dialog shows the earlier samples; a broken sidecar is left out
    (data_dir / 'samples' / 'broken.json').write_text('{not json')
    user.find(marker='sampling-dialog-ok').click()
    await user.should_not_see(marker='sampling-dialog')
    await open_tool(user)
    captions = texts(user, 'sampling-earlier-caption')
    assert len(captions) == 4 and sum('style.safetensors' in c for c in captions) == 2
    assert all(' · seed 42 · 2 steps' in c for c in captions)


async def test_the_dialog_says_in_one_line_that_the_base_model_is_missing(data_dir, user, tmp_path):
    await open_tool(user)
    missing = str(tmp_path / 'nowhere')
    fill(user, 'sampling-base_model', missing)
    fill(user, 'sample-prompt', 'a cat')
    user.find(marker='sampling-render').click()
    await user.should_see(f'Stopped: the base model {missing} does not exist')
    assert not (data_dir / 'samples').exists()
    user.find(marker='sampling-unload').click()
    await user.should_see('Model unloaded')


# ---- in Chromium -------------------------------------------------------------------------------
def test_the_grid_in_chromium_in_both_themes_with_a_clean_console(tmp_path, tiny_sd, lora_file):
    playwright_api = pytest.importorskip('playwright.sync_api')
    from deploy.harness import ARTIFACTS, CHROMIUM_ARGS, chromium_path, run_app

    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip('chromium is not installed (tests/setup_system.sh installs it)')
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        for renders, scheme in enumerate(('light', 'dark'), start=1):
            context = browser.new_context(viewport={'width': 1400, 'height': 1000}, color_scheme=scheme)
            page = context.new_page()
            page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.goto(f'{app.url}/?tab=tools')
            page.get_by_role('button', name='Open Sampling').click()
            dialog = page.get_by_role('dialog')
            dialog.get_by_label('Base model', exact=True).fill(tiny_sd)
            dialog.get_by_label('Prompt', exact=True).fill(f'a {scheme} cat\na {scheme} dog')
            for label, value in (('Width', '32'), ('Height', '32'), ('Diffusion steps', '2')):
                dialog.get_by_label(label, exact=True).fill(value)
            dialog.get_by_role('button', name='Add LoRA file').click()
            dialog.get_by_label('LoRA file 1', exact=True).fill(lora_file)
            dialog.get_by_role('button', name='Render').click()
            page.wait_for_function("[...document.querySelectorAll('.ot-sampling-grid .q-img img')].length === 4 && "
                                   "[...document.querySelectorAll('.ot-sampling-grid .q-img img')].every("
                                   "i => i.complete && i.naturalWidth > 0)", timeout=120_000)
            if renders > 1:  # the earlier render is listed, its images load when opened
                dialog.get_by_text('Earlier samples (4 newest)').click()
                page.wait_for_function("[...document.querySelectorAll('[role=dialog] .q-img img')].length === 8 && "
                                       "[...document.querySelectorAll('[role=dialog] .q-img img')].every("
                                       "i => i.complete && i.naturalWidth > 0)")
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == 'dark')
            assert dialog.get_by_text('no LoRA', exact=True).is_visible()
            assert dialog.get_by_text(f'a {scheme} dog', exact=True).is_visible()
            page.screenshot(path=str(ARTIFACTS / f'sampling-tool-{scheme}.png'), animations='disabled')
            context.close()
            assert len(list((app.data_dir / 'samples').glob('*.png'))) == 4 * renders
        browser.close()
    assert errors == []
