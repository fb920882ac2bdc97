"""Batch masking through its CLI: each model, each mode's effect on existing masks, refusals that change nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.cli.mask import main
from modules.tools.masking import MaskRequest, combined, generate_masks, shaped
from modules.tools.task import ToolTask
from tests.tools.conftest import open_tool, set_value, snapshot, status_after_run


def mask_of(image: Path) -> np.ndarray:
    with Image.open(image.with_name(f'{image.stem}-masklabel.png')) as mask:
        assert mask.mode == 'L' and mask.size == (40, 30)
        return np.asarray(mask, dtype=np.float32) / 255


@pytest.fixture
def half_red(image_folder: Path) -> Path:
    """red.png becomes red on its left half and black on its right half."""
    image = Image.new('RGB', (40, 30), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 20, 30))
    image.save(image_folder / 'red.png')
    return image_folder / 'red.png'


def test_colour_masks_the_pixels_of_that_colour(image_folder, half_red):
    assert main(['--model', 'COLOR', '--sample-dir', str(image_folder), '--add-prompt', '#FF0000',
                 '--threshold', '0.1', '--smooth-pixels', '0', '--expand-pixels', '0', '--include-subdirectories']) == 0
    mask = mask_of(half_red)
    assert (mask[:, :20] == 1).all() and (mask[:, 20:] == 0).all()
    assert (mask_of(image_folder / 'blue.jpg') == 0).all() and (mask_of(image_folder / 'sub/green.png') == 0).all()
    assert not list(image_folder.glob('.*'))  # no temporary file is left behind


def test_expand_grows_and_smooth_softens_the_edge():
    scores = np.zeros((30, 40), dtype=np.float32)
    scores[:, :20] = 0.9
    grown = shaped(scores, 0.3, expand=3, smooth=0)
    assert (grown[:, :23] == 1).all() and (grown[:, 23:] == 0).all()
    soft = shaped(scores, 0.3, expand=0, smooth=2)
    assert 0 < soft[0, 19] < 1 and 0 < soft[0, 20] < 1 and soft[0, 10] == 1 and soft[0, 30] == 0
    assert (shaped(scores, 0.95, 0, 0) == 0).all()  # below the threshold nothing is masked


@pytest.mark.parametrize('mode, expected', [
    ('replace', [1.0, 0.0]), ('fill', None), ('add', [1.0, 0.5]), ('subtract', [0.0, 0.5]), ('blend', [0.75, 0.25]),
])
def test_each_mode_combines_with_the_existing_mask(mode, expected, image_folder, half_red):
    Image.new('L', (40, 30), 128).save(image_folder / 'red-masklabel.png')  # an existing grey mask (0.5)
    before = (image_folder / 'red-masklabel.png').read_bytes()
    alpha = '0.5' if mode == 'blend' else '1'
    assert main(['--model', 'COLOR', '--sample-dir', str(image_folder), '--add-prompt', '#f00', '--mode', mode,
                 '--alpha', alpha, '--threshold', '0.1', '--smooth-pixels', '0', '--expand-pixels', '0']) == 0
    if expected is None:
        assert (image_folder / 'red-masklabel.png').read_bytes() == before
        assert (mask_of(image_folder / 'blue.jpg') == 0).all()  # but images without a mask got one
        return
    mask = mask_of(half_red)
    assert mask[:, :20] == pytest.approx(expected[0], abs=0.01) and mask[:, 20:] == pytest.approx(expected[1], abs=0.01)


def test_a_missing_mask_counts_as_black_except_for_subtract():
    new = np.array([[1.0, 0.0]])
    assert combined(new, None, 'add', 0.5).tolist() == [[0.5, 0.0]]
    assert combined(new, None, 'subtract', 0.5).tolist() == [[0.5, 1.0]]
    assert combined(new, None, 'blend', 0.5).tolist() == [[0.5, 0.0]]


def test_clipseg_masks_every_image_with_all_prompts_batched(clipseg_model, image_folder):
    calls = []
    request = MaskRequest('CLIPSEG', str(image_folder), ['a cat', 'dog'], model_name=str(clipseg_model),
                          include_subdirectories=True, batch_size=2, smooth_pixels=0, expand_pixels=0)
    from modules.tools.masking import load_masker
    masker = load_masker(request)

    def counting(images, prompts):
        calls.append((len(images), tuple(prompts)))
        return masker(images, prompts)

    assert generate_masks(ToolTask(on_log=lambda text: None), request, counting) == 3
    assert calls == [(2, ('a cat', 'dog')), (1, ('a cat', 'dog'))]
    one_by_one = [masker([Image.open(image_folder / name).convert('RGB')], ['a cat', 'dog'])[0]
                  for name in ('blue.jpg', 'red.png')]
    for name, scores in zip(('blue.jpg', 'red.png'), one_by_one, strict=True):
        assert (mask_of(image_folder / name) == (scores > 0.3)).all()  # a batch scores as single images do


def test_clipseg_and_segmentation_and_rembg_run_from_the_cli(clipseg_model, segformer_model, u2net_model,
                                                            image_folder, half_red):
    common = ['--sample-dir', str(image_folder), '--mode', 'replace', '--smooth-pixels', '0', '--expand-pixels', '0']
    assert main(['--model', 'CLIPSEG', '--model-name', str(clipseg_model), '--add-prompt', 'cat', *common]) == 0
    assert mask_of(half_red).shape == (30, 40)
    assert main(['--model', 'SEGMENTATION', '--model-name', str(segformer_model), '--add-prompt', 'sky',
                 '--add-prompt', 'grass', '--add-prompt', 'background', *common]) == 0
    assert (mask_of(half_red) == 1).all()  # the labels' probabilities sum to 1 everywhere
    assert main(['--model', 'REMBG', '--model-name', str(u2net_model), *common, '--threshold', '0.5']) == 0
    mask = mask_of(half_red)  # the tiny u2net scores bright pixels: the red half is the foreground
    assert (mask[:, :18] == 1).all() and (mask[:, 22:] == 0).all()


@pytest.mark.parametrize('case', ['missing folder', 'unreadable image', 'unreadable mask', 'broken model',
                                  'not cached', 'rembg not cached', 'bad colour', 'unknown label', 'no prompt'])
def test_bad_input_is_one_line_and_changes_nothing(case, segformer_model, image_folder, tmp_path, capsys,
                                                   monkeypatch):
    Image.new('L', (40, 30), 128).save(image_folder / 'red-masklabel.png')
    folder, args = image_folder, ['--model', 'COLOR', '--add-prompt', '#ff0000']
    if case == 'missing folder':
        folder = tmp_path / 'nowhere'
    elif case == 'unreadable image':
        (image_folder / 'broken.png').write_bytes(b'not an image')
    elif case == 'unreadable mask':
        (image_folder / 'blue-masklabel.png').write_bytes(b'not a mask')
    elif case == 'broken model':
        (tmp_path / 'empty-model').mkdir()
        args = ['--model', 'CLIPSEG', '--add-prompt', 'cat', '--model-name', str(tmp_path / 'empty-model')]
    elif case == 'not cached':
        args = ['--model', 'CLIPSEG', '--add-prompt', 'cat']
    elif case == 'rembg not cached':
        monkeypatch.setenv('U2NET_HOME', str(tmp_path / 'u2net-home'))
        args = ['--model', 'REMBG']
    elif case == 'bad colour':
        args = ['--model', 'COLOR', '--add-prompt', 'red']
    elif case == 'unknown label':
        args = ['--model', 'SEGMENTATION', '--model-name', str(segformer_model), '--add-prompt', 'car']
    else:
        args = ['--model', 'CLIPSEG']
    before = snapshot(image_folder)
    rc = main([*args, '--sample-dir', str(folder), '--mode', 'add'])
    error = capsys.readouterr().err
    lines = error.strip().splitlines()  # a model's loading progress may come first
    assert rc == 1 and lines[-1].startswith('error: ') and error.count('error: ') == 1
    expected = {'missing folder': 'does not exist', 'unreadable image': 'cannot read the image',
                'unreadable mask': 'cannot read the image', 'broken model': 'could not be loaded',
                'not cached': 'is not in the local cache', 'rembg not cached': 'is not in the local cache',
                'bad colour': 'is not a hex colour', 'unknown label': "has no label 'car'",
                'no prompt': 'needs a prompt'}[case]
    assert expected in error
    assert snapshot(image_folder) == before


def test_help_lists_onetrainers_arguments(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    text = capsys.readouterr().out
    for option in ('--model', '--sample-dir', '--add-prompt', '--mode', '--threshold', '--smooth-pixels',
                   '--expand-pixels', '--device', '--dtype', '--alpha', '--include-subdirectories'):
        assert option in text


# ---- the dialog ----------------------------------------------------------------------------------
async def test_the_dialog_masks_a_colour_and_blends_with_the_existing_mask(ui_data_dir, user, image_folder, half_red):
    Image.new('L', (40, 30), 0).save(image_folder / 'red-masklabel.png')
    await open_tool(user, 'Batch masking', 'mask-tool-dialog')
    set_value(user, 'mask-tool-model', 'COLOR')
    user.find(marker='mask-tool-folder').clear().type(str(image_folder))
    user.find(marker='mask-tool-prompt').clear().type('#ff0000')
    set_value(user, 'mask-tool-mode', 'blend')
    for marker, value in (('threshold', 0.1), ('smooth', 0), ('expand', 0), ('alpha', 0.5)):
        set_value(user, f'mask-tool-{marker}', value)
    user.find(marker='mask-tool-create').click()
    assert await status_after_run(user, 'masking') == 'Done'
    mask = mask_of(half_red)
    assert mask[:, :20] == pytest.approx(0.5, abs=0.01) and (mask[:, 20:] == 0).all()
    assert (mask_of(image_folder / 'blue.jpg') == 0).all()
    assert not (image_folder / 'sub' / 'green-masklabel.png').exists()  # subfolders only when asked


async def test_the_dialog_refuses_a_bad_colour_and_writes_nothing(ui_data_dir, user, image_folder):
    before = snapshot(image_folder)
    await open_tool(user, 'Batch masking', 'mask-tool-dialog')
    set_value(user, 'mask-tool-model', 'COLOR')
    user.find(marker='mask-tool-folder').clear().type(str(image_folder))
    user.find(marker='mask-tool-prompt').clear().type('red')
    user.find(marker='mask-tool-create').click()
    assert await status_after_run(user, 'masking') == "Stopped: 'red' is not a hex colour such as #FF0000"
    assert snapshot(image_folder) == before


# ---- in Chromium -------------------------------------------------------------------------------
def test_both_dialogs_in_chromium_in_both_themes_with_a_clean_console(tmp_path, wd14_model, image_folder):
    playwright_api = pytest.importorskip('playwright.sync_api')
    from deploy.harness import ARTIFACTS, CHROMIUM_ARGS, chromium_path, run_app

    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip('chromium is not installed (tests/setup_system.sh installs it)')
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        for scheme in ('light', 'dark'):
            for path in image_folder.rglob('*'):
                if path.name.endswith(('.txt', '-masklabel.png')):
                    path.unlink()
            context = browser.new_context(viewport={'width': 1400, 'height': 1000}, color_scheme=scheme)
            page = context.new_page()
            page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.goto(f'{app.url}/?tab=tools')

            page.get_by_role('button', name='Open Batch captioning').click()
            dialog = page.get_by_role('dialog')
            dialog.get_by_label('Model', exact=True).click()
            page.get_by_role('option', name='WD14 VIT v2').click()
            dialog.get_by_label('Model folder or hub name', exact=True).fill(str(wd14_model))
            dialog.get_by_label('Folder', exact=True).fill(str(image_folder))
            dialog.get_by_role('button', name='Create captions').click()
            dialog.get_by_role('status').filter(has_text='Done').wait_for(timeout=60_000)
            assert dialog.get_by_text('red.png: hero (character), red theme').is_visible()
            page.screenshot(path=str(ARTIFACTS / f'caption-tool-{scheme}.png'), animations='disabled')
            dialog.get_by_role('button', name='OK').click()
            dialog.wait_for(state='detached')

            page.get_by_role('button', name='Open Batch masking').click()
            dialog = page.get_by_role('dialog')
            dialog.get_by_label('Model', exact=True).click()
            page.get_by_role('option', name='Hex Color').click()
            dialog.get_by_label('Folder', exact=True).fill(str(image_folder))
            dialog.get_by_label('Prompt', exact=True).fill('#FF0000')
            dialog.get_by_role('button', name='Create masks').click()
            dialog.get_by_role('status').filter(has_text='Done').wait_for(timeout=60_000)
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == 'dark')
            page.screenshot(path=str(ARTIFACTS / f'mask-tool-{scheme}.png'), animations='disabled')
            context.close()
            assert (image_folder / 'red.txt').read_text() == 'hero (character), red theme'
            assert (mask_of(image_folder / 'red.png') == 1).all() and (mask_of(image_folder / 'blue.jpg') == 0).all()
        browser.close()
    assert errors == []
