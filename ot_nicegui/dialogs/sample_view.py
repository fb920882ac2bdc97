"""A sample image of the run, large."""
from __future__ import annotations

from nicegui import context, ui

from ot_nicegui.state.run_view import sample_caption
from ot_nicegui.state.training_session import SampleRecord, file_url


def open_large(record: SampleRecord) -> None:
    with context.client.layout:
        dialog = ui.dialog().props('maximized=false').mark('sample-large')
    with dialog, ui.card().classes('items-center').style('max-width: 96vw'):
        ui.label(sample_caption(record)).classes('text-sm')
        ui.image(file_url(record)).props('fit=contain').style('width: min(90vw, 900px); height: min(80vh, 900px)') \
            .mark('sample-large-image')
        ui.button('Close', on_click=dialog.close)
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()
