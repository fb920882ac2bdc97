"""The settings dialogs that something other than their button opens (a settings-search hit, a
problem listed at Start), by the name an `Entry` gives."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from ot_nicegui.dialogs.optimizer import open_optimizer_dialog
from ot_nicegui.dialogs.scheduler import open_scheduler_dialog
from ot_nicegui.dialogs.timestep import open_timestep_dialog
from ot_nicegui.state.config_session import ConfigSession

DIALOGS: dict[str, Callable[[ConfigSession], ui.dialog]] = {
    'optimizer': open_optimizer_dialog,
    'scheduler': open_scheduler_dialog,
    'timestep': open_timestep_dialog,
}


def open_dialog(name: str, session: ConfigSession) -> ui.dialog:
    return DIALOGS[name](session)
