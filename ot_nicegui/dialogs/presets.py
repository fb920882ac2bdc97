"""The preset bar's dialogs: a name for a preset, a yes-or-no question, a config file to import."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from modules.config.base import ConfigError
from modules.config.presets import check_name


async def ask_name(title: str, initial: str = '', action: str = 'Save') -> str | None:
    """A small dialog asking for a preset name; None when cancelled."""
    with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
        ui.label(title).classes('text-lg font-medium')

        def check(value: str) -> str | None:
            try:
                name = check_name(value, 'Name')
            except ConfigError as exc:
                return exc.reason.capitalize()
            return 'Names starting with "#" are reserved for built-in presets' if name.startswith('#') else None

        name = ui.input('Name', value=initial, validation=check).classes('w-full').mark('preset-name')
        name.props('autofocus')

        def submit() -> None:
            if name.validate():
                dialog.submit(name.value.strip())

        name.on('keydown.enter', submit)
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat')
            ui.button(action, on_click=submit).mark('preset-name-ok')
    result = await dialog
    dialog.delete()
    return result


async def confirm(message: str, action: str) -> bool:
    with ui.dialog() as dialog, ui.card():
        ui.label(message)
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat')
            ui.button(action, on_click=lambda: dialog.submit(True)).props('color=negative').mark('confirm-ok')
    result = await dialog
    dialog.delete()
    return bool(result)


def open_import_dialog(upload: Callable[[str, bytes], Awaitable[None]], max_bytes: int) -> None:
    """A dialog taking one uploaded JSON file; `upload(file name, content)` imports it."""
    with ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full'):
        ui.label('Import a config file').classes('text-lg font-medium')
        ui.label('A OneTrainer config, preset or exported config (JSON). It replaces the current '
                 'settings; concepts and samples it contains are saved as new list files.') \
            .classes('text-sm')

        async def received(e) -> None:
            await upload(e.file.name, await e.file.read())
            dialog.close()

        ui.upload(on_upload=received, auto_upload=True, max_file_size=max_bytes) \
            .props('accept=".json,application/json" flat bordered').classes('w-full').mark('import-upload')
        with ui.row().classes('w-full justify-end'):
            ui.button('Close', on_click=dialog.close).props('flat')
    dialog.on('hide', dialog.delete)
    dialog.open()
