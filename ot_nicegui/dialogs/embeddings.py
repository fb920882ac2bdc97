"""The additional embeddings editor: embeddings trained or used next to any training method."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from modules.config.train_config import TrainEmbeddingConfig
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, watch

ITEM_FIELDS = ('model_name', 'placeholder', 'token_count', 'initial_embedding_text', 'train',
               'is_output_embedding', 'stop_training_after', 'stop_training_after_unit')


def open_embeddings_dialog(session: ConfigSession) -> ui.dialog:
    config = session.config

    def replace(items: list[TrainEmbeddingConfig]) -> None:
        config.additional_embeddings = items

    with dialog_frame('Additional embeddings', 'embeddings-dialog', width='980px') as dialog:
        with ui.row().classes('items-center gap-2') as head:
            ui.button('Add embedding', icon='add',
                      on_click=lambda: replace([*config.additional_embeddings, TrainEmbeddingConfig.default_values()])) \
                .mark('embeddings-add')
            ui.button('Train all', on_click=lambda: _set_train(config, True)).props('flat dense').mark('embeddings-train-all')
            ui.button('Train none', on_click=lambda: _set_train(config, False)).props('flat dense') \
                .mark('embeddings-train-none')

        @ui.refreshable
        def items() -> None:
            with ui.column().classes('w-full gap-2').mark('embeddings-list'):
                if not config.additional_embeddings:
                    ui.label('No additional embeddings.').classes('text-grey')
                for index, embedding in enumerate(config.additional_embeddings):
                    with ui.card().classes('w-full'), ui.grid(columns=4).classes('w-full gap-x-4 gap-y-0 items-center'):
                        for name in ITEM_FIELDS:
                            field_input(embedding, name).mark(f'embedding-{name}-{index}')
                        ui.button(icon='delete', on_click=lambda e=embedding: replace(
                            [x for x in config.additional_embeddings if x is not e])) \
                            .props('flat dense round aria-label="Remove"').mark(f'embedding-remove-{index}')

        items()
        watch(config, 'additional_embeddings', lambda _: items.refresh(), head)
    return dialog


def _set_train(config: Any, value: bool) -> None:
    for embedding in config.additional_embeddings:
        embedding.train = value
