"""The Additional Embeddings tab: a list of extra embeddings trained or used with any method."""
from __future__ import annotations

import uuid

from nicegui import ui

from modules.config.train_config import TrainEmbeddingConfig
from ot_nicegui.schemas.vocabulary import ALL_UNITS, fd, time_entry
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.fields import register_binding, watch
from ot_nicegui.widgets.schema_view import render_field

ITEM_FIELDS = ('model_name', 'placeholder', 'token_count', 'initial_embedding_text', 'train', 'is_output_embedding')


def render(ctx: TabContext) -> None:
    config = ctx.config

    def replace(items: list[TrainEmbeddingConfig]) -> None:
        config.additional_embeddings = items

    def add() -> None:
        replace([*config.additional_embeddings, TrainEmbeddingConfig.default_values()])

    def clone(index: int) -> None:
        copy = config.additional_embeddings[index].copy()
        copy.uuid = str(uuid.uuid4())  # a clone is a new embedding, with its own file name in backups
        items = list(config.additional_embeddings)
        items.insert(index + 1, copy)
        replace(items)

    def remove(index: int) -> None:
        replace([e for i, e in enumerate(config.additional_embeddings) if i != index])

    def set_all(train: bool) -> None:
        for item in config.additional_embeddings:
            item.train = train

    @ui.refreshable
    def items() -> None:
        if not config.additional_embeddings:
            ui.label('No additional embeddings. Add one to train or use it alongside the main training.') \
                .classes('text-sm opacity-80')
        for index, item in enumerate(config.additional_embeddings):
            with ui.card().classes('w-full gap-1').props('flat bordered'):
                with ui.row().classes('w-full items-center'):
                    ui.label(f'Embedding {index + 1}').classes('text-base font-medium grow') \
                        .props('role=heading aria-level=3')
                    ui.button(icon='content_copy', on_click=lambda i=index: clone(i)) \
                        .props(f'flat round aria-label="Duplicate embedding {index + 1}"').tooltip('Duplicate')
                    ui.button(icon='delete', on_click=lambda i=index: remove(i)) \
                        .props(f'flat round color=negative aria-label="Remove embedding {index + 1}"') \
                        .tooltip('Remove')
                with ui.element('div').classes('ot-columns ot-columns-2 w-full'):
                    prefix = f'additional_embeddings[{index}]'
                    for name in ITEM_FIELDS:
                        _item_field(item, name, prefix)
                    _item_field(item, 'stop_training_after', prefix, time=True)

    with ui.column().classes('w-full gap-3') as holder:
        with ui.row().classes('gap-2'):
            ui.button('Add embedding', icon='add', on_click=add).mark('additional_embeddings')  # where search lands
            ui.button('Train all', on_click=lambda: set_all(True)).props('outline')
            ui.button('Train none', on_click=lambda: set_all(False)).props('outline')
        items()
    watch(config, 'additional_embeddings', lambda _: items.refresh(), holder)
    register_binding(type(config), 'additional_embeddings')


def _item_field(item: TrainEmbeddingConfig, name: str, prefix: str, time: bool = False) -> None:
    # render_field resolves paths on a config; an item is rendered with itself as the root
    fdef = time_entry(name, units=ALL_UNITS) if time else fd(name)
    element = render_field(item, fdef)
    element.mark(f'{prefix}.{name}')
