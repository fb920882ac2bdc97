"""Tool test fixtures: tiny random models built once per session, folders of generated images."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.tools import tiny_models


@pytest.fixture(autouse=True)
def browse_roots(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tool dialogs only take paths inside the browse roots: here the folder of every test's tmp folders
    (a test that checks the refusal sets its own)."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv('OT_BROWSE_ROOTS', str(root))
    return root


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp('tool-models')


@pytest.fixture(scope='session')
def blip_model(tiny_model_dir: Path) -> Path:
    return tiny_models.blip(tiny_model_dir / 'blip')


@pytest.fixture(scope='session')
def blip2_model(tiny_model_dir: Path) -> Path:
    return tiny_models.blip2(tiny_model_dir / 'blip2')


@pytest.fixture(scope='session')
def florence2_model(tiny_model_dir: Path) -> Path:
    return tiny_models.florence2(tiny_model_dir / 'florence2')


@pytest.fixture(scope='session')
def wd14_model(tiny_model_dir: Path) -> Path:
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    return tiny_models.wd14(tiny_model_dir / 'wd14')


@pytest.fixture(scope='session')
def clipseg_model(tiny_model_dir: Path) -> Path:
    return tiny_models.clipseg(tiny_model_dir / 'clipseg')


@pytest.fixture(scope='session')
def segformer_model(tiny_model_dir: Path) -> Path:
    return tiny_models.segformer(tiny_model_dir / 'segformer')


@pytest.fixture(scope='session')
def u2net_model(tiny_model_dir: Path) -> Path:
    pytest.importorskip('onnx')
    pytest.importorskip('rembg')
    return tiny_models.u2net(tiny_model_dir / 'u2net.onnx')


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """red.png and blue.jpg at the top, sub/green.png one folder down (all 40×30)."""
    folder = tmp_path / 'images'
    (folder / 'sub').mkdir(parents=True)
    Image.new('RGB', (40, 30), (255, 0, 0)).save(folder / 'red.png')
    Image.new('RGB', (40, 30), (0, 0, 255)).save(folder / 'blue.jpg', quality=100)
    Image.new('RGB', (40, 30), (0, 255, 0)).save(folder / 'sub' / 'green.png')
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the folder with its bytes: what a refused run must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture
def ui_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data folder for a dialog test, in tmp (as tests/ui's data_dir)."""
    folder = tmp_path / 'data'
    folder.mkdir()
    monkeypatch.setenv('OT_DATA_DIR', str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


async def open_tool(user, title: str, marker: str) -> None:
    """Open a tool's dialog from the Tools tab, as a visitor does."""
    from nicegui import ui
    from nicegui.testing.user_interaction import UserInteraction

    await user.open('/?tab=tools')
    await user.should_see(title)
    with user:
        (button,) = [b for b in user.find(kind=ui.button, content='Open').elements
                     if str(b.props.get('aria-label')).strip('"') == f'Open {title}']
    UserInteraction(user, {button}, None).click()
    await user.should_see(marker=marker)


def set_value(user, marker: str, value) -> None:
    """Choose in a select or flip a switch (typing is for text inputs)."""
    with user:
        (element,) = user.find(marker=marker).elements
        element.set_value(value)


async def status_after_run(user, name: str, seconds: float = 60) -> str:
    """The runner's status once the run has ended (Done, Stopped: …, Failed: …)."""
    import asyncio

    for _ in range(int(seconds * 10)):
        with user:
            (status,) = user.find(marker=f'tool-{name}-status').elements
        if status.text and not status.text.startswith(('Running', 'Cancelling')) and ' / ' not in status.text:
            return status.text
        await asyncio.sleep(0.1)
    raise AssertionError(f'the {name} run did not end in time')
