"""The "changed since preset" dialog: every field that differs, each with a revert button."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import value_to_text


def _show(value: object) -> str:
    text = getattr(value, 'label', None) or value_to_text(value)
    return text if text != '' else '(empty)'


def open_changes_dialog(session: ConfigSession) -> ui.dialog:
    with ui.dialog() as dialog, ui.card().classes('w-[40rem] max-w-full'):
        title = session.preset_name or 'the start of this session'
        ui.label(f'Changed since {title}').classes('text-lg font-medium')

        @ui.refreshable
        def rows() -> None:
            changes = session.changes()
            if not changes:
                ui.label('Nothing has changed.').mark('changes-none')
                return
            with ui.list().props('dense separator').classes('w-full max-h-[60vh] overflow-auto'):
                for change in changes:
                    with ui.item().mark(f'change-{change.path}'):
                        with ui.item_section():
                            ui.item_label(change.path)
                            ui.item_label(f'{_show(change.preset_value)} → {_show(change.value)}').props('caption')
                        with ui.item_section().props('side'):
                            ui.button(icon='undo', on_click=lambda p=change.path: revert(p)) \
                                .props(f'flat round aria-label="Revert {change.path}"').mark(f'revert-{change.path}') \
                                .tooltip('Set back to the preset value')

        def revert(path: str) -> None:
            session.revert(path)
            rows.refresh()

        rows()
        with ui.row().classes('w-full justify-end'):
            ui.button('Close', on_click=dialog.close).props('flat')
    dialog.on('hide', dialog.delete)
    dialog.open()
    return dialog
