"""What every dialog shares: the frame (title, close, OK) and a chooser for text fields with fixed words."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nicegui import context, ui

from modules.config.base import BaseConfig
from ot_nicegui.widgets.fields import register_binding, tooltip_text, watch


@contextmanager
def dialog_frame(title: str, marker: str, *, width: str = '860px',
                 on_close: Callable[[], None] | None = None) -> Iterator[ui.dialog]:
    """An open dialog with a title bar and an OK button; the body is built inside the `with`.

    Edits are live (bound to the config while typing), so OK only closes. The dialog belongs to
    the page rather than to the button that opened it, so refreshing a list does not close it, and
    it deletes itself (with its subscriptions) once closed.
    """
    with context.client.layout:
        dialog = ui.dialog().mark(marker)
    with dialog, ui.card().style(f'width: {width}; max-width: 96vw').classes('gap-2'):
        with ui.row().classes('w-full items-center no-wrap'):
            dialog.title = ui.label(title).classes('text-h6').mark('dialog-title')
            ui.space()
            ui.button(icon='close', on_click=dialog.close).props('flat round dense aria-label="Close"')
        yield dialog
        with ui.row().classes('w-full justify-end'):
            ui.button('OK', on_click=dialog.close).mark(f'{marker}-ok')

    def closed(e: Any) -> None:
        if e.value:
            return
        if on_close is not None:
            on_close()
        dialog.delete()

    dialog.on_value_change(closed)
    dialog.open()


def word_choice(owner: BaseConfig, name: str, words: dict[str, str], *, label: str | None = None) -> ui.select:
    """A select for a text field that only takes a few words (OneTrainer stores them as text).

    words: stored word -> label. A stored value outside the list is kept and offered.
    """
    f = type(owner).get_field(name)
    options = dict(words)
    current = getattr(owner, name)
    if current not in options:
        options[current] = str(current)
    element = ui.select(options, value=current, label=label or f.display_label,
                        on_change=lambda e: setattr(owner, name, e.value) if e.value != getattr(owner, name) else None)
    if f.tooltip:
        element.tooltip(tooltip_text(f))

    def show(value: Any) -> None:
        if value not in element.options:
            element.options[value] = str(value)
            element.update()
        element.value = value

    watch(owner, name, show, element)
    register_binding(type(owner), name)
    return element


async def ask_text(title: str, label: str, marker: str) -> str | None:
    """A small dialog asking for one line of text; None when cancelled."""
    with context.client.layout, ui.dialog() as dialog, ui.card().style('min-width: 340px'):
        dialog.mark(marker)
        ui.label(title).classes('text-h6')
        entry = ui.input(label).props('autofocus').classes('w-full').mark(f'{marker}-input')
        entry.on('keydown.enter', lambda: dialog.submit(entry.value))
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat')
            ui.button('OK', on_click=lambda: dialog.submit(entry.value)).mark(f'{marker}-ok')
    try:
        return await dialog
    finally:
        dialog.delete()
