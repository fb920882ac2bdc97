"""The Training tab: optimizer, schedule, per-part training, precision, noise, loss, layers."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.dialogs.optimizer import open_optimizer_dialog
from ot_nicegui.tabs._schema_tab import render_schema_tab
from ot_nicegui.tabs.context import TabContext


def render(ctx: TabContext) -> None:
    session = ctx.session

    def optimizer_button() -> None:
        ui.button(icon='tune', on_click=lambda: open_optimizer_dialog(session)) \
            .props('flat round aria-label="Optimizer settings"').classes('mt-2') \
            .tooltip('All parameters of the selected optimizer')

    extras = {'optimizer.optimizer': optimizer_button}
    # selecting an optimizer applies its defaults and restores the values used with it before
    setters = {'optimizer.optimizer': session.change_optimizer}
    render_schema_tab(ctx, 'training', rebuild_on=('model_type',), setters=setters, extras=extras)
