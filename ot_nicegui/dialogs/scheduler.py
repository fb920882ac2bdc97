"""The learning-rate scheduler dialog: a custom scheduler class and its parameters."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from modules.config.enums import LearningRateScheduler
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, register_binding, watch

PLACEHOLDER_HINT = ('Values may use %LR%, %EPOCHS%, %STEPS_PER_EPOCH%, %TOTAL_STEPS% and %SCHEDULER_STEPS%; '
                    'they are replaced before the scheduler is made. step() is called once per training step.')


def open_scheduler_dialog(session: ConfigSession) -> ui.dialog:
    config = session.config
    with dialog_frame('Learning rate scheduler', 'scheduler-dialog', width='720px') as dialog:
        field_input(config, 'learning_rate_scheduler').mark('scheduler-choice')
        custom = field_input(config, 'custom_learning_rate_scheduler', label='Scheduler class (module.Class)') \
            .classes('w-full').mark('scheduler-class')
        ui.label('Parameters').classes('text-subtitle1')
        ui.label(PLACEHOLDER_HINT).classes('text-caption text-grey-8')
        editing = {'own': False}

        def assign(params: list[dict]) -> None:
            editing['own'] = True
            try:
                config.scheduler_params = params
            finally:
                editing['own'] = False

        def current() -> list[dict]:
            return [dict(entry) for entry in (config.scheduler_params or [])]

        def edit(index: int, key: str, value: str) -> None:
            params = current()
            params[index][key] = value
            assign(params)

        @ui.refreshable
        def rows() -> None:
            with ui.column().classes('w-full gap-1').mark('scheduler-params'):
                for index, entry in enumerate(current()):
                    with ui.row().classes('w-full items-center no-wrap gap-2'):
                        ui.input('Key', value=str(entry.get('key', '')),
                                 on_change=lambda e, i=index: edit(i, 'key', e.value)) \
                            .props('dense').classes('w-48').mark(f'scheduler-key-{index}')
                        ui.input('Value', value=str(entry.get('value', '')),
                                 on_change=lambda e, i=index: edit(i, 'value', e.value)) \
                            .props('dense').classes('grow').mark(f'scheduler-value-{index}')
                        ui.button(icon='delete', on_click=lambda i=index: assign(current()[:i] + current()[i + 1:])) \
                            .props('flat dense round aria-label="Remove"').mark(f'scheduler-remove-{index}')

        rows()
        ui.button('Add parameter', icon='add', on_click=lambda: assign(current() + [{'key': '', 'value': ''}])) \
            .props('flat').mark('scheduler-add')
        register_binding(type(config), 'scheduler_params')

        def refresh(_: Any) -> None:
            if not editing['own'] or len(config.scheduler_params or []) != rows_count['n']:
                rows.refresh()
            rows_count['n'] = len(config.scheduler_params or [])

        rows_count = {'n': len(config.scheduler_params or [])}
        watch(config, 'scheduler_params', refresh, custom)

        def fit(value: Any) -> None:
            custom.set_enabled(value == LearningRateScheduler.CUSTOM)

        fit(config.learning_rate_scheduler)
        watch(config, 'learning_rate_scheduler', fit, custom)
    return dialog
