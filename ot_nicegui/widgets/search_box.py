"""The settings search box: type a word, pick a result, land on the field."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from ot_nicegui.schemas.search import Entry, search


def search_box(index: Callable[[], list[Entry]], tab_labels: Callable[[], dict[str, str]],
               jump: Callable[[Entry], None]) -> ui.input:
    """`index()` gives the current entries, `tab_labels()` the visible tabs' captions."""
    with ui.element('div').classes('relative ot-search'):
        box = ui.input(placeholder='Search settings').props('dense standout clearable dark type=search') \
            .props('aria-label="Search settings"').classes('w-56').mark('settings-search')
        with box.add_slot('prepend'):
            ui.icon('search')
        results = ui.list().props('dense bordered separator role=listbox aria-label="Search results"') \
            .classes('absolute right-0 z-50 w-96 max-w-[90vw] max-h-[60vh] overflow-auto shadow-lg ot-search-results')
        results.set_visibility(False)

    def pick(entry: Entry) -> None:
        box.value = ''
        jump(entry)

    def update() -> None:
        hits = search(index(), box.value or '')
        labels = tab_labels()
        results.clear()
        with results:
            for entry in hits:
                with ui.item(on_click=lambda e=entry: pick(e)).props('clickable').mark(f'search-hit-{entry.path}'):
                    with ui.item_section():
                        ui.item_label(entry.label)
                        where = f'{labels[entry.tab]} › {entry.section}' if entry.tab in labels else entry.section
                        ui.item_label(f'{where} · {entry.path}') \
                            .props('caption')
            if box.value and not hits:
                ui.item('No setting matches').props('disable')
        results.set_visibility(bool(box.value))

    box.on_value_change(update)
    box.on('keydown.escape', lambda: box.set_value(''))
    return box
