"""Parameter parity: every config field is editable somewhere, or listed here with the reason."""
from __future__ import annotations

import asyncio

from nicegui.testing import User

from modules.config.base import BaseConfig
from modules.config.cloud_config import CloudConfig
from modules.config.enums import ModelType, PeftType, TrainingMethod
from modules.config.secrets_config import CloudSecretsConfig, SecretsConfig
from modules.config.train_config import (
    QuantizationConfig,
    TrainConfig,
    TrainEmbeddingConfig,
    TrainModelPartConfig,
    TrainOptimizerConfig,
)
from ot_nicegui.app import TABS
from ot_nicegui.dialogs.optimizer import open_muon_adam_dialog, open_optimizer_dialog
from ot_nicegui.dialogs.scheduler import open_scheduler_dialog
from ot_nicegui.state.config_session import get_session
from ot_nicegui.widgets.fields import bound_fields

NOT_SHOWN: dict[type[BaseConfig], dict[str, str]] = {
    TrainConfig: {
        'concepts': 'inline list of packed configs; the UI edits concept files instead',
        'samples': 'inline list of packed configs; the UI edits sample files instead',
        'optimizer_defaults': 'remembered per-optimizer values, kept automatically when switching optimizers',
        'force_v_prediction': 'not exposed by OneTrainer either; set it in a config file',
        'force_epsilon_prediction': 'not exposed by OneTrainer either; set it in a config file',
        'text_encoder_4_layer_skip': 'HiDream text encoder 4 has no clip skip in OneTrainer',
        'concept_file_name': "chosen with the Concepts tab's list-file picker (a list of files, not a text field)",
        'sample_definition_file_name': "chosen with the Sampling tab's list-file picker",
    },
    TrainModelPartConfig: {},
    QuantizationConfig: {
        'cache_dir': 'not exposed by OneTrainer; defaults to <cache dir>/quantization',
    },
    TrainEmbeddingConfig: {
        'uuid': 'identity of the embedding, generated, never edited',
    },
}


async def _render_everything(user: User) -> None:
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
    cfg.additional_embeddings = [TrainEmbeddingConfig.default_values()]
    with user:  # the custom scheduler class and its parameters live in the scheduler dialog
        open_scheduler_dialog(get_session())
    await asyncio.sleep(0.2)


def _missing(bound: dict, config_class: type[BaseConfig], skip: dict[str, str]) -> set[str]:
    names = {f.name for f in config_class.FIELDS if f.kind != 'config'}
    return names - bound.get(config_class, set()) - set(skip)


CLASSES = [TrainConfig, TrainModelPartConfig, QuantizationConfig, TrainEmbeddingConfig, CloudConfig,
           SecretsConfig, CloudSecretsConfig]


async def test_every_field_has_a_widget(user: User) -> None:
    await _render_everything(user)
    bound = bound_fields()
    missing = {c.__name__: sorted(_missing(bound, c, NOT_SHOWN.get(c, {}))) for c in CLASSES}
    assert not any(missing.values()), f'fields without a widget or a reason: {missing}'
    # a reason for a field that has a widget after all is out of date
    stale = {c.__name__: sorted(set(names) & bound.get(c, set())) for c, names in NOT_SHOWN.items()}
    assert not any(stale.values()), f'fields listed as not shown that have a widget: {stale}'


async def test_every_optimizer_parameter_has_a_widget(user: User) -> None:
    from modules.config.enums import Optimizer

    await user.open('/')
    session = get_session()
    with user:
        for optimizer in Optimizer:
            session.change_optimizer(optimizer)
            # its fields are bound once built; left open, it would re-render on every later change
            open_optimizer_dialog(session).delete()
        open_muon_adam_dialog(session)  # the auxiliary Adam settings of Muon
    not_shown = {'beta1_warmup': 'no optimizer uses it', 'min_beta1': 'no optimizer uses it'}
    bound = bound_fields()
    missing = _missing(bound, TrainOptimizerConfig, not_shown)
    assert not missing, sorted(missing)
    assert set(not_shown) <= set(TrainOptimizerConfig.field_map())
    assert not set(not_shown) & bound.get(TrainOptimizerConfig, set()), 'listed as not shown, yet has a widget'


def test_not_shown_lists_only_real_fields() -> None:
    for config_class, names in NOT_SHOWN.items():
        assert set(names) <= set(config_class.field_map()), config_class.__name__
