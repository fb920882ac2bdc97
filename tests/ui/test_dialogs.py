"""Optimizer, scheduler, timestep, Muon auxiliary Adam, profiling and embeddings dialogs."""
import asyncio

import numpy as np
import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import user_simulation

from modules.config.enums import LearningRateScheduler, Optimizer, TimestepDistribution
from modules.config.optimizer_defaults import OPTIMIZER_DEFAULT_PARAMETERS
from ot_nicegui.dialogs.embeddings import open_embeddings_dialog
from ot_nicegui.dialogs.optimizer import open_muon_adam_dialog, open_optimizer_dialog, parameter_names
from ot_nicegui.dialogs.profiling import open_profiling_dialog, thread_stacks
from ot_nicegui.dialogs.scheduler import open_scheduler_dialog
from ot_nicegui.dialogs.timestep import open_timestep_dialog
from ot_nicegui.state.config_session import ConfigSession

OPENERS = {'optimizer': open_optimizer_dialog, 'muon': open_muon_adam_dialog, 'scheduler': open_scheduler_dialog,
           'timestep': open_timestep_dialog, 'profiling': open_profiling_dialog, 'embeddings': open_embeddings_dialog}


@pytest.fixture
def session(tmp_path):
    return ConfigSession(tmp_path / 'data', builtin_presets=tmp_path / 'builtin', autosave_delay=60)


def page(session):
    def root():
        for name, opener in OPENERS.items():
            ui.button(name, on_click=lambda o=opener: o(session)).mark(f'open-{name}')
    return root


async def until(condition, tries: int = 100) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError('condition not reached')


NOT_PARAMETERS = {'choice', 'load-defaults', 'dialog', 'dialog-ok', 'parameters', 'aux-adam'}


def shown_parameters(user) -> set[str]:
    """The optimizer parameters that have a widget in the open dialog."""
    with user:
        markers = {marker for element in ElementFilter() for marker in element._markers}
    return {m.removeprefix('optimizer-') for m in markers if m.startswith('optimizer-')} - NOT_PARAMETERS


async def test_optimizer_dialog_shows_the_chosen_optimizers_keys(session):
    config = session.config
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-optimizer').click()
        await user.should_see(marker='optimizer-dialog')
        assert shown_parameters(user) == set(parameter_names(Optimizer.ADAMW))
        assert set(parameter_names(Optimizer.ADAMW)) == set(OPTIMIZER_DEFAULT_PARAMETERS['ADAMW'])

        user.find(marker='optimizer-weight_decay').clear().type('0.2')
        assert config.optimizer.weight_decay == 0.2

        session.change_optimizer(Optimizer.PRODIGY)  # what picking it in the select does
        await asyncio.sleep(0.05)
        assert config.optimizer.optimizer == Optimizer.PRODIGY
        assert shown_parameters(user) == set(parameter_names(Optimizer.PRODIGY))
        assert config.optimizer.d_coef == OPTIMIZER_DEFAULT_PARAMETERS['PRODIGY']['d_coef']
        config.optimizer.d_coef = 2.0
        with user:
            (d_coef,) = ElementFilter(kind=ui.input, marker='optimizer-d_coef')
            assert d_coef.value == '2'  # whole numbers without '.0'
        user.find(marker='optimizer-load-defaults').click()
        assert config.optimizer.d_coef == OPTIMIZER_DEFAULT_PARAMETERS['PRODIGY']['d_coef']
        assert float(d_coef.value) == OPTIMIZER_DEFAULT_PARAMETERS['PRODIGY']['d_coef']

        session.change_optimizer(Optimizer.ADAMW)  # the values used last time come back
        assert config.optimizer.weight_decay == 0.2
        config.optimizer.weight_decay = 0.3
        user.find(marker='optimizer-dialog-ok').click()
        await until(lambda: 'ADAMW' in config.optimizer_defaults
                    and config.optimizer_defaults['ADAMW'].weight_decay == 0.3)


async def test_optimizer_select_changes_the_parameter_set(session):
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-optimizer').click()
        await user.should_see(marker='optimizer-dialog')
        user.find(marker='optimizer-choice').click()
        user.find(Optimizer.LION.label).click()
        assert session.config.optimizer.optimizer == Optimizer.LION
        await until(lambda: shown_parameters(user) == set(parameter_names(Optimizer.LION)))


async def test_null_optimizer_switch_shows_optimizer_default_until_set(session):
    # An old config left Prodigy's switches null: the optimizer's fallback applies to them.
    config = session.config
    session.change_optimizer(Optimizer.PRODIGY)
    config.optimizer.from_dict({'decouple': None}, migrate=False)
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-optimizer').click()
        await user.should_see(marker='optimizer-decouple')
        with user:
            (decouple,) = ElementFilter(kind=ui.switch, marker='optimizer-decouple')
            (safeguard,) = ElementFilter(kind=ui.switch, marker='optimizer-safeguard_warmup')
        assert decouple.value is None  # the indeterminate state
        assert safeguard.value is False
        await user.should_see('optimizer default')
        with user:
            (caption,) = ElementFilter(marker='switch-unset', only_visible=True)
            assert caption.parent_slot.parent is decouple  # only the null switch says so

        user.find(marker='optimizer-decouple').click()
        assert config.optimizer.decouple is True and decouple.value is True
        await user.should_not_see('optimizer default')
        user.find(marker='optimizer-decouple').click()
        assert config.optimizer.decouple is False

        config.optimizer.decouple = None  # e.g. another old config loaded
        await user.should_see('optimizer default')
        assert decouple.value is None
        user.find(marker='optimizer-dialog-ok').click()
        await until(lambda: 'PRODIGY' in config.optimizer_defaults)
        assert config.optimizer_defaults['PRODIGY'].decouple is None
        assert config.optimizer_defaults['PRODIGY'].to_dict()['decouple'] is None


async def test_muon_auxiliary_adam(session):
    session.change_optimizer(Optimizer.MUON)
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-optimizer').click()
        await user.should_see(marker='optimizer-aux-adam')
        user.find(marker='optimizer-aux-adam').click()
        await user.should_see(marker='muon-adam-dialog')
        assert session.config.optimizer.muon_adam_config == {'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-08,
                                                             'weight_decay': 0.0}
        user.find(marker='muon-adam-beta2').clear().type('0.95')
        assert session.config.optimizer.muon_adam_config['beta2'] == 0.95
        with user:
            assert not list(ElementFilter(marker='muon-adam-nnmf_factor'))  # an _ADV-only setting


async def test_scheduler_parameters(session):
    config = session.config
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-scheduler').click()
        await user.should_see(marker='scheduler-dialog')
        with user:
            (custom,) = ElementFilter(kind=ui.input, marker='scheduler-class')
            assert not custom.enabled
            config.learning_rate_scheduler = LearningRateScheduler.CUSTOM
            assert custom.enabled
        user.find(marker='scheduler-class').type('torch.optim.lr_scheduler.StepLR')
        assert config.custom_learning_rate_scheduler == 'torch.optim.lr_scheduler.StepLR'
        user.find(marker='scheduler-add').click()
        await user.should_see(marker='scheduler-key-0')
        user.find(marker='scheduler-key-0').type('step_size')
        user.find(marker='scheduler-value-0').type('%TOTAL_STEPS%')
        assert config.scheduler_params == [{'key': 'step_size', 'value': '%TOTAL_STEPS%'}]
        config.scheduler_params = [{'key': 'gamma', 'value': '0.5'}, {'key': 'step_size', 'value': '3'}]
        await user.should_see(marker='scheduler-key-1')
        await click_when_ready(user, 'scheduler-remove-0')
        assert config.scheduler_params == [{'key': 'step_size', 'value': '3'}]


async def click_when_ready(user, marker):
    await asyncio.sleep(0.05)
    await user.should_see(marker=marker)
    user.find(marker=marker).click()


async def test_timestep_preview_updates(session):
    config = session.config
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-timestep').click()
        await user.should_see(marker='timestep-dialog')
        with user:
            (plot,) = ElementFilter(kind=ui.plotly, marker='timestep-preview')

        def counts() -> np.ndarray:
            return np.asarray(plot.figure['data'][0]['y'])

        await until(lambda: counts().sum() == 1_000_000)
        assert counts()[:400].sum() > 300_000  # uniform
        user.find(marker='timestep-max_noising_strength').clear().type('0.4')
        assert config.max_noising_strength == 0.4
        await until(lambda: counts()[400:].sum() == 0 and counts().sum() == 1_000_000)
        config.timestep_distribution = TimestepDistribution.LOGIT_NORMAL
        await until(lambda: counts()[150:250].sum() > 2 * counts()[:50].sum() and counts()[400:].sum() == 0)


async def test_profiling_dialog(session):
    assert 'test_profiling_dialog' in thread_stacks() or 'MainThread' in thread_stacks()
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-profiling').click()
        await user.should_see(marker='profiling-dialog')
        with user:
            (memory,) = ElementFilter(kind=ui.label, marker='profiling-rss_mb')
            assert float(memory.text) > 10
        user.find(marker='profiling-dump').click()
        with user:
            (stacks,) = ElementFilter(kind=ui.code, marker='profiling-stacks')
            assert 'MainThread' in stacks.content and stacks.visible


async def test_embeddings_list(session):
    config = session.config
    async with user_simulation(page(session)) as user:
        await user.open('/')
        user.find(marker='open-embeddings').click()
        await user.should_see(marker='embeddings-dialog')
        user.find(marker='embeddings-add').click()
        user.find(marker='embeddings-add').click()
        assert len(config.additional_embeddings) == 2
        await user.should_see(marker='embedding-placeholder-1')
        user.find(marker='embedding-placeholder-1').clear().type('<style>')
        assert config.additional_embeddings[1].placeholder == '<style>'
        config.additional_embeddings[0].token_count = 4
        with user:
            (tokens,) = ElementFilter(kind=ui.input, marker='embedding-token_count-0')
            assert tokens.value == '4'
        user.find(marker='embeddings-train-none').click()
        assert [e.train for e in config.additional_embeddings] == [False, False]
        await click_when_ready(user, 'embedding-remove-0')
        assert [e.placeholder for e in config.additional_embeddings] == ['<style>']
        await user.should_not_see(marker='embedding-placeholder-1')
