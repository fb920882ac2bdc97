"""The words the UI uses for settings: labels that are words rather than field names, tooltips that
explain rather than repeat the label, units beside numbers that have one, whole numbers without
".0", optimizer names in tooltips as the optimizer menu shows them."""
from __future__ import annotations

import re

import pytest
from nicegui import ui
from nicegui.element_filter import ElementFilter
from nicegui.testing import User

from modules.config.base import humanize
from modules.config.cloud_config import CloudConfig
from modules.config.secrets_config import CloudSecretsConfig, SecretsConfig
from modules.config.train_config import (
    QuantizationConfig,
    TrainConfig,
    TrainEmbeddingConfig,
    TrainModelPartConfig,
    TrainOptimizerConfig,
)
from ot_nicegui.widgets.fields import tooltip_text, value_to_text

SETTING_CLASSES = (TrainConfig, TrainModelPartConfig, QuantizationConfig, TrainEmbeddingConfig,
                   TrainOptimizerConfig, CloudConfig, SecretsConfig, CloudSecretsConfig)

# settings whose field name makes a poor label: each has a label of its own
CURATED = {
    TrainConfig: ('peft_type', 'loss_weight_fn', 'lokr_vec_trick', 'lokr_dim', 'lokr_use_tucker', 'base_model_name',
                  'workspace_dir', 'cache_dir', 'debug_dir', 'concept_file_name', 'sample_definition_file_name',
                  'device_indexes', 'multi_gpu', 'temp_device', 'dataloader_threads', 'clip_grad_norm',
                  'vb_loss_strength', 'min_noising_strength', 'max_noising_strength', 'lora_decompose',
                  'async_gradient_reduce_buffer', 'non_ema_sampling', 'sample_skip_first', 'save_skip_first'),
    TrainOptimizerConfig: ('eps', 'eps2', 'amsgrad', 'adam_w_mode', 'muon_te1_adam_lr', 'muon_te2_adam_lr',
                           'muon_adam_lr', 'MuonWithAuxAdam', 'ns_steps', 'lr_decay', 'max_unorm', 'fsdp_in_use',
                           'use_stableadamw', 'use_atan2', 'use_AdEMAMix', 'n_sma_threshold', 'normuon_variant',
                           'cautious_wd', 'approx_mars', 'r', 'k', 'd0', 'd_coef'),
    TrainEmbeddingConfig: ('is_output_embedding',),
    CloudConfig: ('min_download', 'onetrainer_dir', 'install_cmd', 'install_onetrainer', 'update_onetrainer'),
}
EXPECTED = {
    (TrainConfig, 'peft_type'): 'Adapter type',
    (TrainOptimizerConfig, 'eps'): 'Epsilon',
    (TrainOptimizerConfig, 'amsgrad'): 'AMSGrad variant',
    (TrainConfig, 'lokr_vec_trick'): 'LoKr vector trick',
    (TrainConfig, 'loss_weight_fn'): 'Loss weighting',
    (TrainOptimizerConfig, 'muon_te1_adam_lr'): 'Muon: text encoder 1 Adam LR',
    (TrainEmbeddingConfig, 'is_output_embedding'): 'Output-space embedding',
}
UNITS = {(CloudConfig, 'volume_size'): 'GB', (CloudConfig, 'min_download'): 'Mbps',
         (TrainConfig, 'async_gradient_reduce_buffer'): 'MiB'}


def words(text: str) -> str:
    return re.sub(r'[^a-z0-9]', '', text.lower())


def test_curated_labels_are_not_the_field_name() -> None:
    same = [f'{cls.__name__}.{name}' for cls, names in CURATED.items() for name in names
            if cls.get_field(name).display_label == humanize(name)]
    assert not same, f'labels that still read as a field name: {same}'
    for (cls, name), label in EXPECTED.items():
        assert cls.get_field(name).display_label == label


def test_tooltips_explain_rather_than_repeat_the_label() -> None:
    repeats = []
    for cls in SETTING_CLASSES:
        for f in cls.FIELDS:
            if f.kind == 'config':
                continue
            tip = words(re.sub(r'\s*Used by:.*$', '', f.tooltip))
            if not tip or tip in (words(f.display_label), words(f.name)):
                repeats.append(f'{cls.__name__}.{f.name}')
    assert not repeats, f'tooltips that only repeat the label: {repeats}'


def test_tooltips_name_optimizers_as_the_menu_does() -> None:
    text = tooltip_text(TrainOptimizerConfig.get_field('amsgrad'))
    assert 'Adam 8-bit' in text and 'ADAM_8BIT' not in text
    assert 'AdaBelief' in text


@pytest.mark.parametrize(('value', 'text'), [(1.0, '1'), (-2.0, '-2'), (100.0, '100'), (0.5, '0.5'),
                                             (0.0003, '0.0003'), (1e20, '1e+20'), (3, '3')])
def test_whole_numbers_read_without_a_decimal_point(value, text) -> None:
    assert value_to_text(value) == text


def test_units_are_declared() -> None:
    for (cls, name), unit in UNITS.items():
        assert cls.get_field(name).unit == unit


def element(user: User, marker: str) -> ui.element:
    with user:
        return next(iter(ElementFilter(marker=marker)))


async def test_fields_show_units_labels_and_whole_numbers(user: User) -> None:
    await user.open('/?tab=cloud')
    volume = element(user, 'cloud.volume_size')
    assert volume.props['suffix'] == 'GB' and volume.props['label'] == 'Volume size'
    assert element(user, 'cloud.min_download').props['suffix'] == 'Mbps'
    user.find(marker='tab-training').click()
    await user.should_see(marker='learning_rate_cycles')
    cycles = element(user, 'learning_rate_cycles')
    assert cycles.value == '1'  # a float field holding 1.0
    assert element(user, 'loss_weight_fn').props['label'] == 'Loss weighting'
    from modules.config.enums import TrainingMethod
    from ot_nicegui.state.config_session import get_session

    get_session().config.training_method = TrainingMethod.LORA
    await user.should_see(marker='tab-lora')
    user.find(marker='tab-lora').click()
    await user.should_see('Adapter type')
