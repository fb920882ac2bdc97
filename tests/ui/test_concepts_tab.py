"""The concepts tab and the concept editor, driven through NiceGUI's simulated user."""
import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import user_simulation
from PIL import Image

from modules.config.files import load_concepts
from ot_nicegui.state.concept_list import concept_store
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs import concepts as concepts_tab
from ot_nicegui.tabs.context import TabContext


def _image(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(data).save(path)


@pytest.fixture
def session(tmp_path):
    return ConfigSession(tmp_path / 'data', builtin_presets=tmp_path / 'builtin', autosave_delay=60)


@pytest.fixture
def concept_folder(tmp_path):
    root = tmp_path / 'images'
    _image(root / 'a.png', (64, 32), 0)
    _image(root / 'b.png', (32, 32), 1)
    _image(root / 'c.png', (32, 64), 2)
    (root / 'a.txt').write_text('apple')
    (root / 'b.txt').write_text('ball')
    Image.new('L', (64, 32), 255).save(root / 'a-masklabel.png')
    return root


def concepts_file(session) -> Path:
    return session.data_dir / session.config.concept_file_name


def saved(session) -> list[dict]:
    return json.loads(concepts_file(session).read_text())


async def until(condition, tries: int = 100) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError('condition not reached')


async def click(user, marker: str) -> None:
    """Click once the element exists (list refreshes run right after the event that caused them)."""
    await asyncio.sleep(0.05)
    await user.should_see(marker=marker)
    user.find(marker=marker).click()


def shown(image) -> bytes:
    """The pixels an image element shows (its source is a PIL image in the simulation)."""
    source = image.source
    return source.tobytes() if isinstance(source, Image.Image) else b''


def page(session):
    def root():
        concepts_tab.render(TabContext.of(session))
    return root


async def test_add_duplicate_reorder_delete_persist(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        assert saved(session) == []  # the list file is created on first use
        user.find(marker='concept-add').click()
        user.find(marker='concept-add').click()
        assert len(saved(session)) == 2
        store = concept_store(session)
        store.items[0].name = 'first'
        store.items[1].name = 'second'
        assert [c['name'] for c in saved(session)] == ['first', 'second']

        await click(user, 'concept-duplicate-0')
        data = saved(session)
        assert [c['name'] for c in data] == ['first', 'first', 'second']
        assert data[0]['seed'] != data[1]['seed']  # a copy draws its own seed

        await click(user, 'concept-right-0')
        await click(user, 'concept-delete-1')
        assert [c['name'] for c in saved(session)] == ['first', 'second']
        await click(user, 'concept-left-1')
        assert [c['name'] for c in saved(session)] == ['second', 'first']

        await click(user, 'concept-enabled-0')
        assert [c.enabled for c in load_concepts(concepts_file(session))] == [False, True]
        await user.should_see('second')


async def test_filter_and_new_list(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        store = concept_store(session)
        for name in ('cats', 'dogs'):
            store.add().name = name
        user.find(marker='concept-filter').type('do')
        await user.should_not_see('cats')
        await user.should_see('dogs')
        user.find(marker='concept-filter').clear()
        await user.should_see('cats')

        user.find(marker='concept-new-file').click()
        await user.should_see(marker='concept-file-name-input')
        user.find(marker='concept-file-name-input').type('../escape')
        user.find(marker='concept-file-name-ok').click()
        await user.should_see('plain name')  # refused: names cannot leave the folder
        assert session.config.concept_file_name == 'training_concepts/concepts.json'

        user.find(marker='concept-new-file').click()
        await user.should_see(marker='concept-file-name-input')
        user.find(marker='concept-file-name-input').type('my set/')
        user.find(marker='concept-file-name-ok').click()
        await until(lambda: session.config.concept_file_name == 'training_concepts/my set.json')
        assert store.items == []
        store.add().name = 'fresh'
        path = session.data_dir / session.config.concept_file_name
        assert path.parent == session.data_dir / 'training_concepts'
        assert [c['name'] for c in json.loads(path.read_text())] == ['fresh']
        session.config.concept_file_name = 'training_concepts/concepts.json'  # a preset load switches lists
        assert [c.name for c in store.items] == ['cats', 'dogs']
        await user.should_see('cats')


async def test_concept_dialog_binds_both_ways(session, concept_folder):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        store = concept_store(session)
        concept = store.add()
        concept.path = str(concept_folder)
        await click(user, 'concept-edit-0')
        await user.should_see(marker='concept-dialog')
        user.find(marker='concept-name').clear().type('fruit')
        assert concept.name == 'fruit' and saved(session)[0]['name'] == 'fruit'
        user.find(marker='concept-loss_weight').clear().type('0.5')
        assert concept.loss_weight == 0.5
        concept.balancing = 3.0
        with user:
            (balancing,) = ElementFilter(kind=ui.input, marker='concept-balancing')
        assert balancing.value == '3'  # a whole number reads without ".0"
        user.find('Text augmentation').click()
        user.find(marker='concept-enable_tag_shuffling').click()
        assert concept.text.enable_tag_shuffling is True
        assert saved(session)[0]['text']['enable_tag_shuffling'] is True


async def test_augmentation_preview_changes_with_a_switch(session, concept_folder):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        concept = concept_store(session).add()
        concept.path = str(concept_folder)
        concept.image.enable_crop_jitter = False
        await click(user, 'concept-edit-0')
        user.find('Image augmentation').click()
        with user:
            (preview,) = ElementFilter(kind=ui.image, marker='concept-preview')
        await until(lambda: shown(preview) != b'')
        await user.should_see('apple')
        before = shown(preview)
        user.find(marker='concept-enable_fixed_flip').click()
        assert concept.image.enable_fixed_flip is True
        await until(lambda: shown(preview) != before)
        flipped = shown(preview)
        user.find(marker='concept-enable_fixed_flip').click()
        await until(lambda: shown(preview) == before)
        assert flipped != before


async def test_statistics_show_counts(session, concept_folder):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        concept = concept_store(session).add()
        concept.path = str(concept_folder)
        await click(user, 'concept-edit-0')
        user.find('Statistics').click()
        await until(lambda: bool(concept.concept_stats))
        with user:
            def value(name):
                (label,) = ElementFilter(kind=ui.label, marker=f'concept-stat-{name}')
                return label.text
            assert value('images') == '3'
            assert value('captions') == '2'
            assert value('masks') == '1'
            assert value('images_with_masks') == '1'
            (chart,) = ElementFilter(kind=ui.plotly, marker='concept-stats-chart')
            assert sum(chart.figure['data'][0]['y']) == 3
        assert saved(session)[0]['concept_stats']['images'] == 3


async def test_editor_shows_every_concept_field(session, monkeypatch):
    from modules.config.concept_config import ConceptConfig, ConceptImageConfig, ConceptTextConfig
    from ot_nicegui.widgets import fields

    monkeypatch.setattr(fields, '_BOUND', {})
    async with user_simulation(page(session)) as user:
        await user.open('/')
        concept_store(session).add()
        await click(user, 'concept-edit-0')
        await user.should_see(marker='concept-dialog')
    bound = fields.bound_fields()
    for cls in (ConceptConfig, ConceptImageConfig, ConceptTextConfig):
        editable = {f.name for f in cls.FIELDS if f.kind in ('scalar', 'enum')}
        assert editable - bound.get(cls, set()) == set(), cls.__name__


async def test_a_new_concept_opens_its_editor_whose_title_follows_the_name(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='concept-add').click()
        await user.should_see(marker='concept-dialog')
        await user.should_see('Concept: unnamed')
        concept_store(session).items[0].name = 'cats'  # what typing in the name field does
        await user.should_see('Concept: cats', marker='dialog-title')
