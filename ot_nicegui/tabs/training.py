"""The Training tab: optimizer, schedule, per-part training, precision, noise, loss, layers."""
from __future__ import annotations

import importlib.util

from nicegui import ui

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs._schema_tab import render_schema_tab

OPTIMIZER_DIALOG = 'ot_nicegui.dialogs.optimizer'


def optimizer_dialog_available() -> bool:
    try:
        return importlib.util.find_spec(OPTIMIZER_DIALOG) is not None
    except ModuleNotFoundError:
        return False


def render(session: ConfigSession) -> None:
    def open_dialog() -> None:
        from ot_nicegui.dialogs.optimizer import open_optimizer_dialog

        open_optimizer_dialog(session)

    def optimizer_button() -> None:
        ui.button(icon='tune', on_click=open_dialog) \
            .props('flat round aria-label="Optimizer settings"').classes('mt-2') \
            .tooltip('All parameters of the selected optimizer')

    extras = {'optimizer.optimizer': optimizer_button} if optimizer_dialog_available() else {}
    # selecting an optimizer applies its defaults and restores the values used with it before
    setters = {'optimizer.optimizer': session.change_optimizer}
    render_schema_tab(session, 'training', rebuild_on=('model_type',), setters=setters, extras=extras)
