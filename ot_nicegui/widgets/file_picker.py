"""Path fields: a text input plus a button that browses the server's file system (`dialogs.path_picker`).

The browser runs on the machine that trains (which may be remote), so the picker lists the
server's folders, not the visitor's. Paths relative to the working folder stay relative.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from ot_nicegui.dialogs.path_picker import PathDialog


def path_row(label: str, value: str, on_change: Callable[[Any], None], *, dirs_only: bool) -> ui.input:
    """A text input with a browse button; returns the input."""
    with ui.row().classes('w-full items-start no-wrap gap-1'):
        element = ui.input(label, value=value, on_change=on_change, validation=lambda _: None).classes('grow')

        async def browse() -> None:
            title = f'Choose a folder for "{label}"' if dirs_only else f'Choose a file for "{label}"'
            chosen = await PathDialog(title, element.value or '', dirs_only).dialog
            if chosen is not None:
                element.set_value(chosen)

        ui.button(icon='folder_open', on_click=browse) \
            .props(f'flat dense aria-label="Browse for {label}"').classes('mt-3')
    return element
