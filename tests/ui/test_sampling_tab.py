"""The sampling tab and the sample dialog, driven through NiceGUI's simulated user."""
import asyncio
import json

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import user_simulation

from modules.config.enums import ModelType, NoiseScheduler, TimeUnit
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.sample_list import sample_store
from ot_nicegui.tabs import sampling as sampling_tab
from ot_nicegui.tabs.context import TabContext


@pytest.fixture
def session(tmp_path):
    return ConfigSession(tmp_path / 'data', builtin_presets=tmp_path / 'builtin', autosave_delay=60)


def saved(session) -> list[dict]:
    return json.loads((session.data_dir / session.config.sample_definition_file_name).read_text())


async def click(user, marker: str) -> None:
    await asyncio.sleep(0.05)  # let a pending list refresh run
    await user.should_see(marker=marker)
    user.find(marker=marker).click()


def page(session):
    def root():
        sampling_tab.render(TabContext.of(session))
    return root


async def test_sample_list_edits_persist(session):
    session.config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    async with user_simulation(page(session)) as user:
        await user.open('/')
        assert saved(session) == []
        user.find(marker='sample-add').click()
        data = saved(session)
        assert (data[0]['width'], data[0]['noise_scheduler']) == (1024, 'EULER_A')  # model-type defaults

        await user.should_see(marker='sample-prompt-0')
        user.find(marker='sample-prompt-0').type('a cat')
        user.find(marker='sample-seed-0').clear().type('7')
        assert (saved(session)[0]['prompt'], saved(session)[0]['seed']) == ('a cat', 7)
        user.find(marker='sample-seed-0').clear().type('x')
        assert saved(session)[0]['seed'] == 7  # invalid text never reaches the file

        await click(user, 'sample-duplicate-0')
        store = sample_store(session)
        store.items[1].prompt = 'a dog'
        await click(user, 'sample-down-0')
        assert [s['prompt'] for s in saved(session)] == ['a dog', 'a cat']
        await click(user, 'sample-enabled-1')
        assert [s['enabled'] for s in saved(session)] == [True, False]
        await click(user, 'sample-delete-0')
        assert [s['prompt'] for s in saved(session)] == ['a cat']
        await user.should_see('a cat')


async def test_sampling_settings_bind_both_ways(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='sample_after').clear().type('25')
        assert session.config.sample_after == 25
        session.config.sample_skip_first = 3
        with user:
            (skip,) = ElementFilter(kind=ui.input, marker='sample_skip_first')
            assert skip.value == '3'
        user.find(marker='sample_after_unit').click()
        user.find('Step').click()
        assert session.config.sample_after_unit == TimeUnit.STEP
        user.find(marker='samples_to_tensorboard').click()
        assert session.config.samples_to_tensorboard is False


async def test_sample_dialog_binds_every_field(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='sample-add').click()
        sample = sample_store(session).items[0]
        await click(user, 'sample-edit-0')
        await user.should_see(marker='sample-dialog')
        user.find(marker='sample-cfg_scale').clear().type('4.5')
        assert sample.cfg_scale == 4.5 and saved(session)[0]['cfg_scale'] == 4.5
        user.find(marker='sample-noise_scheduler').click()
        user.find('Euler Karras').click()
        assert sample.noise_scheduler == NoiseScheduler.EULER_KARRAS
        sample.negative_prompt = 'blurry'
        await user.should_see('blurry')
        with user:
            (frames,) = ElementFilter(marker='sample-frames')
            assert not frames.visible
            session.config.model_type = ModelType.HUNYUAN_VIDEO
            assert frames.visible
            (scheduler,) = ElementFilter(marker='sample-noise_scheduler')
            assert not scheduler.visible  # a flow-matching model has no sampler choice
            assert NoiseScheduler.DPMPP not in scheduler.options


async def test_dialog_shows_every_sample_field(session, monkeypatch):
    from modules.config.sample_config import SampleConfig
    from ot_nicegui.widgets import fields

    monkeypatch.setattr(fields, '_BOUND', {})
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='sample-add').click()
        await click(user, 'sample-edit-0')
        await user.should_see(marker='sample-dialog')
    assert {f.name for f in SampleConfig.FIELDS} - fields.bound_fields()[SampleConfig] == set()
