"""The Training tab: optimizer, schedule, per-part training, precision, noise, loss, layers."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from modules.config.enums import LearningRateScheduler
from ot_nicegui.dialogs.optimizer import open_optimizer_dialog
from ot_nicegui.dialogs.scheduler import open_scheduler_dialog
from ot_nicegui.dialogs.timestep import open_timestep_dialog
from ot_nicegui.tabs._schema_tab import render_schema_tab
from ot_nicegui.tabs.context import TabContext


def _dialog_button(label: str, tooltip: str, marker: str, opener: Callable[[], object]) -> Callable[[], None]:
    """The "…" button beside a field that opens the field's dialog."""
    def button() -> None:
        ui.button(icon='more_horiz', on_click=opener) \
            .props(f'flat round aria-label="{label}"').classes('mt-2').tooltip(tooltip).mark(marker)
    return button


def render(ctx: TabContext) -> None:
    session = ctx.session
    config = ctx.config

    def choose_scheduler(value: LearningRateScheduler) -> None:
        config.learning_rate_scheduler = value
        if value == LearningRateScheduler.CUSTOM:  # a custom scheduler needs its class: ask for it now
            open_scheduler_dialog(session)

    def optimizer_button() -> None:
        ui.button(icon='tune', on_click=lambda: open_optimizer_dialog(session)) \
            .props('flat round aria-label="Optimizer settings"').classes('mt-2') \
            .tooltip('All parameters of the selected optimizer')

    extras = {
        'optimizer.optimizer': optimizer_button,
        'learning_rate_scheduler': _dialog_button(
            'Scheduler settings', 'The class and parameters of a custom scheduler', 'open-scheduler-dialog',
            lambda: open_scheduler_dialog(session)),
        'timestep_distribution': _dialog_button(
            'Timestep distribution settings', 'The distribution settings with a preview of the timesteps they draw',
            'open-timestep-dialog', lambda: open_timestep_dialog(session)),
    }
    # selecting an optimizer applies its defaults and restores the values used with it before
    setters = {'optimizer.optimizer': session.change_optimizer, 'learning_rate_scheduler': choose_scheduler}
    render_schema_tab(ctx, 'training', rebuild_on=('model_type',), setters=setters, extras=extras)
