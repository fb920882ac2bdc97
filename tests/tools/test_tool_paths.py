"""The tool dialogs and the dataset editor only use paths inside the server's browse roots."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from ot_nicegui.tool_paths import refused_path
from tests.tools.conftest import open_tool, snapshot, status_after_run


@pytest.fixture
def inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The only browse root; the working folder is outside it, and so is everything else in tmp_path."""
    root = tmp_path / 'inside'
    root.mkdir()
    monkeypatch.setenv('OT_BROWSE_ROOTS', str(root))
    monkeypatch.chdir(tmp_path)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder of images beside the root, with one caption."""
    folder = tmp_path / 'outside'
    folder.mkdir()
    Image.new('RGB', (40, 30), (255, 0, 0)).save(folder / 'red.png')
    (folder / 'red.txt').write_text('old')
    return folder


def test_paths_outside_the_roots_are_named_in_the_refusal(inside: Path, outside: Path) -> None:
    (inside / 'link').symlink_to(outside)
    assert refused_path({'Folder': str(inside / 'images')}, {'Model': str(inside / 'model')}) is None
    assert refused_path({'Folder': ''}, {'Model': ''}) is None  # the tool itself says what is missing
    assert refused_path(models={'Model': 'Salesforce/blip-image-captioning-large'}) is None  # a hub name
    for given in (str(outside), str(inside / '..' / 'outside'), str(inside / 'link' / 'red.png'), 'outside',
                  'relative/to-the-working-folder'):
        message = refused_path({'Output folder': given})
        assert message == (f'Output folder: {given} is outside the folders this server may open ({inside}; '
                           'OT_BROWSE_ROOTS sets them)')
    assert refused_path(models={'Model': str(outside)}).startswith(f'Model: {outside} is outside')
    assert refused_path({'LoRA files': [str(inside / 'a.safetensors'), str(outside / 'b.safetensors')]}) \
        .startswith(f'LoRA files: {outside / "b.safetensors"} is outside')


def test_several_roots_are_separated_like_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OT_BROWSE_ROOTS', os.pathsep.join([str(tmp_path / 'a'), str(tmp_path / 'b')]))
    assert refused_path({'Folder': str(tmp_path / 'b' / 'images')}) is None
    assert refused_path({'Folder': str(tmp_path / 'c')}) is not None


async def test_the_captioning_dialog_refuses_a_folder_or_model_outside_the_roots(
        ui_data_dir, user, inside: Path, outside: Path, blip_model: Path) -> None:
    before = snapshot(outside)
    await open_tool(user, 'Batch captioning', 'caption-tool-dialog')
    user.find(marker='caption-tool-model-name').clear().type(str(blip_model))
    user.find(marker='caption-tool-folder').clear().type(str(outside))
    user.find(marker='caption-tool-create').click()
    assert await status_after_run(user, 'captioning') == (
        f'Not started: Folder: {outside} is outside the folders this server may open ({inside}; '
        'OT_BROWSE_ROOTS sets them)')
    await user.should_see(f'Folder: {outside} is outside')  # the notification too
    # a folder inside, but the model from outside the roots
    (inside / 'images').mkdir()
    Image.new('RGB', (40, 30), (0, 0, 255)).save(inside / 'images' / 'blue.png')
    user.find(marker='caption-tool-folder').clear().type(str(inside / 'images'))
    user.find(marker='caption-tool-create').click()
    await user.should_see(f'Not started: Model: {blip_model} is outside')
    assert snapshot(outside) == before and not (inside / 'images' / 'blue.txt').exists()


async def test_the_masking_dialog_refuses_a_folder_outside_the_roots(ui_data_dir, user, inside: Path,
                                                                    outside: Path) -> None:
    from tests.tools.conftest import set_value

    before = snapshot(outside)
    await open_tool(user, 'Batch masking', 'mask-tool-dialog')
    set_value(user, 'mask-tool-model', 'COLOR')
    user.find(marker='mask-tool-prompt').clear().type('#ff0000')
    user.find(marker='mask-tool-folder').clear().type(str(outside))
    user.find(marker='mask-tool-create').click()
    assert (await status_after_run(user, 'masking')).startswith(f'Not started: Folder: {outside} is outside')
    assert snapshot(outside) == before


async def test_the_converter_refuses_an_input_or_destination_outside_the_roots(
        ui_data_dir, user, inside: Path, outside: Path) -> None:
    from modules.config.enums import TrainingMethod
    from tests.tools.conftest import set_value

    (outside / 'lora.safetensors').write_bytes(b'')
    await open_tool(user, 'Convert model', 'convert-dialog')
    set_value(user, 'convert-method', TrainingMethod.LORA)
    user.find(marker='convert-input').clear().type(str(outside / 'lora.safetensors'))
    user.find(marker='convert-destination').clear().type(str(inside / 'out.safetensors'))
    user.find(marker='convert-run').click()
    assert (await status_after_run(user, 'convert')).startswith(
        f'Not started: Input: {outside / "lora.safetensors"} is outside')
    (inside / 'lora.safetensors').write_bytes(b'')
    user.find(marker='convert-input').clear().type(str(inside / 'lora.safetensors'))
    user.find(marker='convert-destination').clear().type(str(outside / 'out.safetensors'))
    user.find(marker='convert-run').click()
    await user.should_see(f'Not started: Output destination: {outside / "out.safetensors"} is outside')
    assert not (outside / 'out.safetensors').exists() and not (inside / 'out.safetensors').exists()


async def test_the_video_tools_refuse_an_output_folder_outside_the_roots(ui_data_dir, user, inside: Path,
                                                                        outside: Path) -> None:
    (inside / 'clip.mp4').write_bytes(b'')
    await open_tool(user, 'Video tools', 'video-dialog')
    user.find(marker='video-clips-input').clear().type(str(inside / 'clip.mp4'))
    user.find(marker='video-clips-output').clear().type(str(outside / 'clips'))
    user.find(marker='video-clips-run').click()
    assert (await status_after_run(user, 'video')).startswith(
        f'Not started: Output folder: {outside / "clips"} is outside')
    assert not (outside / 'clips').exists()


async def test_the_dataset_editor_refuses_a_typed_folder_outside_the_roots(user, inside: Path, outside: Path,
                                                                          tmp_path: Path) -> None:
    from ot_nicegui.pages.dataset_editor import _opened, register

    (inside / 'images').mkdir()
    Image.new('RGB', (40, 30), (0, 0, 255)).save(inside / 'images' / 'blue.png')
    register(tmp_path / 'data')
    await user.open(f'/dataset?path={inside / "images"}')
    await user.should_see(marker='dataset-tile-0')
    user.find(marker='dataset-folder').clear().type(str(outside))
    user.find(marker='dataset-open').click()
    await user.should_see(f'Folder: {outside} is outside the folders this server may open')
    assert outside not in _opened.values()  # its files cannot be served: no token opens it


async def test_the_sampling_dialog_refuses_a_lora_file_outside_the_roots(ui_data_dir, user, inside: Path,
                                                                        outside: Path) -> None:
    (inside / 'model').mkdir()
    (outside / 'style.safetensors').write_bytes(b'')
    await open_tool(user, 'Sampling', 'sampling-dialog')
    user.find(marker='sampling-base_model').clear().type(str(inside / 'model'))
    user.find(marker='sample-prompt').clear().type('a cat')
    user.find(marker='sampling-lora-add').click()
    user.find(marker='sampling-lora-0').clear().type(str(outside / 'style.safetensors'))
    user.find(marker='sampling-render').click()
    await user.should_see(f'Not started: LoRA files: {outside / "style.safetensors"} is outside')
    assert not (ui_data_dir / 'samples').exists()
