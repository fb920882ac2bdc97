"""Every settings dialog has its way in: the "…" buttons of the Training tab, the Profiling tool,
choosing the custom scheduler, and the settings search, which finds every setting the main window
and its dialogs edit."""
from __future__ import annotations

import asyncio

import pytest
from nicegui import ui
from nicegui.element_filter import ElementFilter
from nicegui.testing import User

from modules.config.cloud_config import CloudConfig
from modules.config.enums import LearningRateScheduler, ModelType, Optimizer, PeftType, TrainingMethod
from modules.config.secrets_config import CloudSecretsConfig, SecretsConfig
from modules.config.train_config import (
    QuantizationConfig,
    TrainConfig,
    TrainEmbeddingConfig,
    TrainModelPartConfig,
    TrainOptimizerConfig,
)
from modules.config.validation import validate
from ot_nicegui.app import TABS, visible_tabs
from ot_nicegui.schemas.search import build_index, search
from ot_nicegui.state.config_session import get_session

SETTING_CLASSES = (TrainConfig, TrainModelPartConfig, QuantizationConfig, TrainEmbeddingConfig,
                   TrainOptimizerConfig, CloudConfig, SecretsConfig, CloudSecretsConfig)


def tab_value(user: User) -> str:
    with user:
        return next(iter(ElementFilter(kind=ui.tabs))).value


async def test_training_tab_buttons_open_the_scheduler_and_timestep_dialogs(user: User) -> None:
    await user.open('/?tab=training')
    user.find(marker='open-scheduler-dialog').click()
    await user.should_see(marker='scheduler-dialog')
    await user.should_see(marker='scheduler-class')
    user.find(marker='scheduler-dialog-ok').click()
    await user.should_not_see(marker='scheduler-dialog')
    user.find(marker='open-timestep-dialog').click()
    await user.should_see(marker='timestep-dialog')
    await user.should_see(marker='timestep-preview')


async def test_tools_tab_opens_profiling(user: User) -> None:
    await user.open('/?tab=tools')
    await user.should_see('Profiling')
    user.find(marker='open-tool-profiling').click()
    await user.should_see(marker='profiling-dialog')
    await user.should_see(marker='profiling-rss_mb')


def custom_scheduler_problems(config: TrainConfig) -> list:
    return [p for p in validate(config) if p.path == 'custom_learning_rate_scheduler']


async def test_choosing_the_custom_scheduler_asks_for_its_class(user: User) -> None:
    await user.open('/?tab=training')
    config = get_session().config
    user.find(marker='learning_rate_scheduler').click()
    user.find(LearningRateScheduler.CUSTOM.label).click()
    assert config.learning_rate_scheduler == LearningRateScheduler.CUSTOM
    await user.should_see(marker='scheduler-dialog')
    assert custom_scheduler_problems(config)  # no class yet: Start would refuse
    user.find(marker='scheduler-class').type('torch.optim.lr_scheduler.StepLR')
    assert config.custom_learning_rate_scheduler == 'torch.optim.lr_scheduler.StepLR'
    assert not custom_scheduler_problems(config)


async def test_search_opens_the_dialog_of_a_dialog_setting(user: User) -> None:
    await user.open('/')
    user.find(marker='settings-search').type('custom learning rate scheduler')
    await user.should_see(marker='search-hit-custom_learning_rate_scheduler')
    user.find(marker='search-hit-custom_learning_rate_scheduler').click()
    await user.should_see(marker='scheduler-dialog')
    assert tab_value(user) == 'training'
    user.find(marker='scheduler-dialog-ok').click()

    user.find(marker='settings-search').type('beta2')
    await user.should_see(marker='search-hit-optimizer.beta2')
    user.find(marker='search-hit-optimizer.beta2').click()
    await user.should_see(marker='optimizer-dialog')
    await user.should_see(marker='optimizer-beta2')


async def test_search_finds_the_fields_above_the_tabs_without_leaving_the_tab(user: User) -> None:
    await user.open('/?tab=backup')
    user.find(marker='settings-search').type('training method')
    await user.should_see(marker='search-hit-training_method')
    user.find(marker='search-hit-training_method').click()
    assert tab_value(user) == 'backup'


async def render_main_window(user: User) -> None:
    """Every tab for every model type and method, every adapter type, and the Training tab's
    dialogs for every optimizer (no list items: concepts, samples and additional embeddings are
    items of a list, not settings)."""
    await user.open('/')
    cfg = get_session().config
    for method in (TrainingMethod.LORA, TrainingMethod.EMBEDDING):
        cfg.training_method = method
        user.find(marker=f'tab-{method.value.lower()}').click()
    for tab in TABS:
        if tab.key not in ('lora', 'embedding'):
            user.find(marker=f'tab-{tab.key}').click()
    for model_type in ModelType:
        cfg.model_type = model_type
        for method in model_type.supported_training_methods():
            cfg.training_method = method
            await asyncio.sleep(0)
    cfg.model_type, cfg.training_method = ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA
    for peft in PeftType:
        cfg.peft_type = peft
        await asyncio.sleep(0)
    from ot_nicegui.dialogs.optimizer import open_optimizer_dialog
    from ot_nicegui.dialogs.scheduler import open_scheduler_dialog
    from ot_nicegui.dialogs.timestep import open_timestep_dialog

    session = get_session()
    with user:
        open_scheduler_dialog(session)
        open_timestep_dialog(session)
        for optimizer in Optimizer:
            session.change_optimizer(optimizer)
            # its fields are bound once built; left open, it would re-render on every later change
            open_optimizer_dialog(session).delete()
    await asyncio.sleep(0.2)


def every_index() -> list:
    """The search entries of every model type, method, adapter type and optimizer."""
    config = TrainConfig.default_values()
    entries = []
    for model_type in ModelType:
        config.model_type = model_type
        for method in model_type.supported_training_methods():
            config.training_method = method
            entries += build_index(config, [t.key for t in visible_tabs(config)])
    config.model_type, config.training_method = ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA
    for peft in PeftType:
        config.peft_type = peft
        entries += build_index(config, ['lora'])
    for optimizer in Optimizer:
        config.optimizer.optimizer = optimizer
        entries += build_index(config, ['training'])
    return entries


async def test_search_finds_every_setting_the_main_window_edits(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    from ot_nicegui.widgets import fields

    monkeypatch.setattr(fields, '_BOUND', {})  # only what this test renders
    await render_main_window(user)
    bound = fields.bound_fields()
    config = TrainConfig.default_values()
    entries = every_index()
    found: dict[type, set[str]] = {}
    for entry in entries:
        for path in entry.paths:
            owner, f = config.resolve(path)
            found.setdefault(type(owner), set()).add(f.name)
    missing = {cls.__name__: sorted(bound.get(cls, set()) - found.get(cls, set())) for cls in SETTING_CLASSES}
    assert not any(missing.values()), f'settings with a widget that search cannot find: {missing}'
    assert bound.get(TrainConfig) and bound.get(TrainOptimizerConfig)  # the rendering did bind fields

    # each entry is found by its path and by its label (an entry matches on its own text alone: searching
    # the distinct entries finds the same ones as searching every model type's copies)
    distinct = list({(e.path, e.label): e for e in entries}.values())
    for entry in distinct:
        assert entry in search(distinct, entry.path, limit=len(distinct)), entry.path
        assert entry in search(distinct, entry.label, limit=len(distinct)), entry.label
