"""The sample parameters dialog: every field of one sample definition."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from modules.config.enums import NoiseScheduler
from modules.config.sample_config import SampleConfig
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, watch

# DPM++ and DPM++ SDE exist for old files but are not offered (as in OneTrainer).
OFFERED_SCHEDULERS = tuple(s for s in NoiseScheduler if s not in (NoiseScheduler.DPMPP, NoiseScheduler.DPMPP_SDE))

# Fields the trainer overwrites from the training settings before every sample; shown read-only.
FROM_TRAINING = ('text_encoder_1_layer_skip', 'text_encoder_1_sequence_length', 'text_encoder_2_layer_skip',
                 'text_encoder_2_sequence_length', 'text_encoder_3_layer_skip', 'text_encoder_4_layer_skip',
                 'transformer_attention_mask', 'force_last_timestep')


def open_sample_dialog(session: ConfigSession, sample: SampleConfig, on_close: Callable[[], None] | None = None) -> ui.dialog:
    """Edit one sample; fields that do not apply to the model type are hidden, not removed."""
    with dialog_frame('Sample', 'sample-dialog', on_close=on_close) as dialog:
        sample_fields(sample, session.config)
    return dialog


def sample_fields(sample: SampleConfig, config: Any, *, standalone: bool = False) -> None:
    """The sample's fields, fitted to `config.model_type` as it changes. Stand-alone (no sample
    list, no training): without the 'enabled' switch and the fields training sets."""
    def mark(element: ui.element, name: str) -> ui.element:
        return element.mark(f'sample-{name}')

    with ui.column().classes('w-full gap-1'):
        mark(field_input(sample, 'prompt').classes('w-full'), 'prompt')
        negative = mark(field_input(sample, 'negative_prompt').classes('w-full'), 'negative_prompt')
    with ui.grid(columns=3).classes('w-full gap-x-6 gap-y-1'):
        if not standalone:
            mark(field_input(sample, 'enabled'), 'enabled')
        mark(field_input(sample, 'width'), 'width')
        mark(field_input(sample, 'height'), 'height')
        mark(field_input(sample, 'seed'), 'seed')
        mark(field_input(sample, 'random_seed'), 'random_seed')
        mark(field_input(sample, 'cfg_scale'), 'cfg_scale')
        mark(field_input(sample, 'diffusion_steps'), 'diffusion_steps')
        scheduler = mark(field_input(sample, 'noise_scheduler', choices=OFFERED_SCHEDULERS), 'noise_scheduler')
        frames = mark(field_input(sample, 'frames'), 'frames')
        length = mark(field_input(sample, 'length'), 'length')
    with ui.column().classes('w-full gap-1') as inpainting:
        mark(field_input(sample, 'sample_inpainting'), 'sample_inpainting')
        mark(field_input(sample, 'base_image_path'), 'base_image_path')
        mark(field_input(sample, 'mask_image_path'), 'mask_image_path')
    if not standalone:
        with ui.expansion('Set from the training settings when sampling').classes('w-full text-grey-8'):
            with ui.grid(columns=2).classes('w-full gap-x-6'):
                for name in FROM_TRAINING:
                    mark(field_input(sample, name), name).props('readonly').disable()

    def fit_model(model_type: Any) -> None:
        negative.set_visibility(model_type.supports_negative_prompt())
        scheduler.set_visibility(not model_type.is_flow_matching())
        frames.set_visibility(model_type.is_video_model())
        length.set_visibility(model_type.is_video_model())
        inpainting.set_visibility(model_type.has_mask_input())

    fit_model(config.model_type)
    watch(config, 'model_type', fit_model, inpainting)
