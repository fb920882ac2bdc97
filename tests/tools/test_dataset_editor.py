"""The dataset editor: listing, filters, thumbnails and atomic caption/mask writes of the backend,
and the page driven through NiceGUI's simulated user (open, filter, caption save, Up/Down)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from nicegui.testing import User
from PIL import Image

from modules.tools import dataset
from modules.tools.task import ToolError


def make_image(path: Path, size: tuple[int, int] = (40, 30), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(data).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """a.png (caption 'a red apple', mask), b.jpg (caption 'blue ball'), c.png (nothing),
    sub/d.png (caption 'red door'), plus files that are not training images."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('OT_BROWSE_ROOTS', str(tmp_path))
    root = tmp_path / 'images'
    make_image(root / 'a.png', seed=1)
    make_image(root / 'b.jpg', seed=2)
    make_image(root / 'c.png', seed=3)
    make_image(root / 'sub' / 'd.png', seed=4)
    (root / 'a.txt').write_text('a red apple\nfruit on a table')
    (root / 'b.txt').write_text('blue ball')
    (root / 'sub' / 'd.txt').write_text('red door')
    Image.new('L', (40, 30), 255).save(root / 'a-masklabel.png')
    Image.new('L', (40, 30), 255).save(root / 'b-condlabel.png')
    (root / 'notes.md').write_text('not an image')
    make_image(root / '.hidden.png')
    return root


def relatives(images) -> list[str]:
    return [i.relative for i in images]


# ---- backend ---------------------------------------------------------------------------------------------
def test_scan_lists_training_images_with_their_caption_and_mask(folder: Path) -> None:
    images = dataset.scan(folder)
    assert relatives(images) == ['a.png', 'b.jpg', 'c.png']
    assert [(i.has_caption, i.has_mask) for i in images] == [(True, True), (True, False), (False, False)]
    assert relatives(dataset.scan(folder, include_subfolders=True)) == ['a.png', 'b.jpg', 'c.png', 'sub/d.png']
    with pytest.raises(ToolError, match='does not exist'):
        dataset.scan(folder / 'nowhere')


def test_filters_by_caption_text_and_missing_files(folder: Path) -> None:
    images = dataset.scan(folder, include_subfolders=True)
    assert relatives(dataset.filter_images(folder, images, 'RED')) == ['a.png', 'sub/d.png']
    assert relatives(dataset.filter_images(folder, images, 'table')) == ['a.png']  # any line of the file
    assert relatives(dataset.filter_images(folder, images, missing='caption')) == ['c.png']
    assert relatives(dataset.filter_images(folder, images, missing='mask')) == ['b.jpg', 'c.png', 'sub/d.png']
    assert relatives(dataset.filter_images(folder, images, 'red', missing='mask')) == ['sub/d.png']


def test_caption_write_replaces_the_first_line_and_keeps_the_others(folder: Path) -> None:
    assert dataset.read_caption(folder, 'a.png') == 'a red apple'
    dataset.write_caption(folder, 'a.png', 'a green apple ')
    assert (folder / 'a.txt').read_text() == 'a green apple\nfruit on a table'
    dataset.write_caption(folder, 'c.png', 'new')
    assert (folder / 'c.txt').read_text() == 'new'
    assert not [p for p in folder.iterdir() if p.suffix == '.tmp']


def test_writes_for_a_deleted_image_are_refused_and_write_nothing(folder: Path) -> None:
    (folder / 'c.png').unlink()
    with pytest.raises(ToolError, match='no longer exists'):
        dataset.write_caption(folder, 'c.png', 'ghost')
    with pytest.raises(ToolError, match='no longer exists'):
        dataset.write_mask(folder, 'c.png', png(Image.new('L', (40, 30), 255)))
    with pytest.raises(ToolError, match='outside'):
        dataset.write_caption(folder, '../escape.png', 'x')
    assert not (folder / 'c.txt').exists() and not (folder / 'c-masklabel.png').exists()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, 'PNG')
    return buffer.getvalue()


def test_mask_write_stores_one_grey_channel_of_the_image_size(folder: Path) -> None:
    painted = Image.new('RGBA', (40, 30), (0, 0, 0, 255))
    painted.paste((255, 255, 255, 255), (0, 0, 20, 30))
    path = dataset.write_mask(folder, 'b.jpg', png(painted))
    assert path == folder / 'b-masklabel.png'
    stored = Image.open(path)
    assert stored.mode == 'L' and stored.size == (40, 30)
    assert stored.getpixel((5, 5)) == 255 and stored.getpixel((30, 5)) == 0
    before = (folder / 'a-masklabel.png').read_bytes()
    with pytest.raises(ToolError, match='40×30'):
        dataset.write_mask(folder, 'a.png', png(Image.new('L', (10, 10))))
    with pytest.raises(ToolError, match='not a readable PNG'):
        dataset.write_mask(folder, 'a.png', b'not a png')
    assert (folder / 'a-masklabel.png').read_bytes() == before


def test_thumbnails_are_made_once_and_remade_when_the_image_changes(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / 'cache'
    large = make_image(folder / 'large.jpg', (900, 300), seed=5)
    first = dataset.thumbnail(large, cache)
    assert Image.open(first).size == (256, 85)
    assert dataset.thumbnail(large, cache) == first
    make_image(large, (300, 900), seed=6)
    second = dataset.thumbnail(large, cache)
    assert second != first and Image.open(second).size == (85, 256)


def test_only_folders_inside_the_browse_roots_open(folder: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ot_nicegui.pages.dataset_editor import allowed_folder, dataset_url

    assert allowed_folder(str(folder)) == folder.resolve()
    monkeypatch.setenv('OT_BROWSE_ROOTS', str(folder / 'sub'))
    with pytest.raises(ToolError, match='outside the folders this server may open'):
        allowed_folder(str(folder))
    assert dataset_url('my images/x', True) == '/dataset?path=my+images%2Fx&subfolders=1'


# ---- the page ---------------------------------------------------------------------------------------------
def value_of(user: User, marker: str):
    with user:
        return next(iter(user.find(marker=marker).elements)).value


def selected_tiles(user: User) -> list[str]:
    from nicegui import ElementFilter

    with user:
        return sorted(m for e in ElementFilter() if 'ot-ds-selected' in e.classes for m in e._markers)


async def open_page(user: User, folder: Path, tmp_path: Path, query: str = '') -> None:
    from ot_nicegui.pages.dataset_editor import register

    register(tmp_path / 'data')
    await user.open(f'/dataset?path={folder}{query}')
    await user.should_see(marker='dataset-tile-0')


async def test_page_lists_filters_and_saves_a_caption_with_enter(user: User, folder: Path, tmp_path: Path) -> None:
    await open_page(user, folder, tmp_path, '&subfolders=1')
    await user.should_see('4 images')
    await user.should_see('a.png')  # the first image is selected
    assert value_of(user, 'dataset-caption') == 'a red apple'

    user.find(marker='dataset-filter').type('red')
    await user.should_see('2 of 4 images')
    user.find(marker='dataset-tile-1').click()
    await user.should_see('sub/d.png')
    assert value_of(user, 'dataset-caption') == 'red door'
    user.find(marker='dataset-caption').clear().type('a red wooden door')
    user.find(marker='dataset-caption').trigger('keydown.enter')
    await user.should_see('Caption saved: d.txt')
    assert (folder / 'sub' / 'd.txt').read_text() == 'a red wooden door'

    user.find(marker='dataset-filter').clear()
    user.find(marker='dataset-missing').click()
    user.find('Missing caption').click()
    await user.should_see('1 of 4 images')
    user.find(marker='dataset-tile-0').click()
    await user.should_see('c.png')
    user.find(marker='dataset-caption').type('a cat')
    user.find(marker='dataset-save').click()
    await user.should_see('Caption saved: c.txt')
    assert (folder / 'c.txt').read_text() == 'a cat'


async def test_up_and_down_move_between_images_and_shortcuts_switch_tools(user: User, folder: Path, tmp_path: Path) -> None:
    await open_page(user, folder, tmp_path)
    caption = user.find(marker='dataset-caption')
    caption.trigger('keydown.down')
    await user.should_see('b.jpg')
    assert value_of(user, 'dataset-caption') == 'blue ball'
    assert selected_tiles(user) == ['dataset-tile-1']
    caption.trigger('keydown.down')
    await user.should_see('c.png')
    assert value_of(user, 'dataset-caption') == ''
    caption.trigger('keydown.down')  # the last image stays selected
    await user.should_see('c.png')
    caption.trigger('keydown.up')
    caption.trigger('keydown.up')
    await user.should_see('a.png')
    assert value_of(user, 'dataset-caption') == 'a red apple'
    assert selected_tiles(user) == ['dataset-tile-0']
    assert (folder / 'b.txt').read_text() == 'blue ball'  # moving saves nothing

    caption.trigger('keydown.ctrl.m.prevent')
    caption.trigger('keydown.ctrl.f.prevent')
    assert value_of(user, 'dataset-mask-only') is True
    assert value_of(user, 'dataset-tool') == 'fill'
    caption.trigger('keydown.ctrl.d.prevent')
    caption.trigger('keydown.ctrl.m.prevent')
    assert value_of(user, 'dataset-mask-only') is False
    assert value_of(user, 'dataset-tool') == 'draw'


async def test_a_deleted_image_gets_a_clear_message(user: User, folder: Path, tmp_path: Path) -> None:
    await open_page(user, folder, tmp_path)
    user.find(marker='dataset-tile-2').click()
    await user.should_see('c.png')
    (folder / 'c.png').unlink()
    user.find(marker='dataset-caption').type('too late')
    user.find(marker='dataset-caption').trigger('keydown.enter')
    await user.should_see('the image c.png no longer exists')
    assert not (folder / 'c.txt').exists()


async def test_a_folder_outside_the_roots_is_refused(user: User, folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ot_nicegui.pages.dataset_editor import register

    monkeypatch.setenv('OT_BROWSE_ROOTS', str(folder / 'sub'))
    register(tmp_path / 'data')
    await user.open(f'/dataset?path={folder}')
    await user.should_see('outside the folders this server may open')
    await user.should_not_see(marker='dataset-tile-0')


async def test_a_concept_card_opens_the_editor_on_its_folder(user: User, folder: Path, tmp_path: Path) -> None:
    from nicegui import ui

    from ot_nicegui.pages.dataset_editor import register
    from ot_nicegui.state.concept_list import concept_store
    from ot_nicegui.state.config_session import ConfigSession
    from ot_nicegui.tabs import concepts as concepts_tab
    from ot_nicegui.tabs.context import TabContext

    session = ConfigSession(tmp_path / 'data', builtin_presets=tmp_path / 'builtin', autosave_delay=60)
    register(tmp_path / 'data')

    @ui.page('/')
    def main() -> None:
        concepts_tab.render(TabContext.of(session))

    await user.open('/')
    concept = concept_store(session).add()
    concept.path = 'images'  # relative to the working folder, as concept paths are
    concept.include_subdirectories = True
    await user.should_see(marker='concept-dataset-0')
    user.find(marker='concept-dataset-0').click()
    await user.should_see(marker='dataset-tile-3')
    await user.should_see('4 images')
    assert value_of(user, 'dataset-folder') == 'images'


async def test_the_tools_tab_opens_the_editor(user: User, folder: Path, tmp_path: Path) -> None:
    from nicegui import ElementFilter, ui
    from nicegui.testing.user_interaction import UserInteraction

    from ot_nicegui.pages.dataset_editor import register
    from ot_nicegui.state.config_session import ConfigSession
    from ot_nicegui.tabs import tools as tools_tab
    from ot_nicegui.tabs.context import TabContext

    session = ConfigSession(tmp_path / 'data', builtin_presets=tmp_path / 'builtin', autosave_delay=60)
    register(tmp_path / 'data')

    @ui.page('/')
    def main() -> None:
        tools_tab.render(TabContext.of(session))

    await user.open('/')
    await user.should_see('Dataset editor')
    with user:  # each tool has an "Open" button: take the one named for the editor
        button = next(b for b in ElementFilter(kind=ui.button) if b.props.get('aria-label') == 'Open Dataset editor')
    UserInteraction(user, {button}, None).click()
    await user.should_see(marker='dataset-folder')
    await user.should_see('No folder open.')


async def test_file_routes_serve_only_the_opened_folder_and_save_masks(user: User, folder: Path,
                                                                       tmp_path: Path) -> None:
    import httpx
    from nicegui import app

    from ot_nicegui.pages import dataset_editor

    make_image(tmp_path / 'secret.png')
    await open_page(user, folder, tmp_path)
    (token,) = dataset_editor._opened
    base = f'/dataset-files/{token}'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://test') as client:
        thumb = await client.get(f'{base}/thumb/a.png')
        assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).format == 'JPEG'
        assert (await client.get(f'{base}/image/b.jpg')).content == (folder / 'b.jpg').read_bytes()
        assert (await client.get(f'{base}/mask/a.png')).status_code == 200
        for refused in (f'{base}/mask/b.jpg',  # no mask yet
                        f'{base}/image/../secret.png', f'{base}/image/%2E%2E/secret.png', f'{base}/image/a.txt',
                        f'{base}/image/.hidden.png', '/dataset-files/not-a-token/image/a.png'):
            assert (await client.get(refused)).status_code == 404, refused

        mask = png(Image.new('L', (40, 30), 255))
        saved = await client.post(f'{base}/mask/c.png', content=mask)
        assert saved.status_code == 200 and saved.json()['message'] == 'Mask saved: c-masklabel.png'
        assert Image.open(folder / 'c-masklabel.png').size == (40, 30)
        (folder / 'b.jpg').unlink()
        gone = await client.post(f'{base}/mask/b.jpg', content=mask)
        assert gone.status_code == 409 and 'no longer exists' in gone.json()['message']
        outside = await client.post(f'{base}/mask/%2E%2E/secret.png', content=mask)
        assert outside.status_code == 409 and 'outside' in outside.json()['message']
        assert not (folder / 'b-masklabel.png').exists() and not (tmp_path / 'secret-masklabel.png').exists()
