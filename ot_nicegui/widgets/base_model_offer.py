"""After a model-type switch, offer that type's usual base model when the current one belongs to
another type (or none is set). The user decides: nothing is replaced without a click."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.default_models import offer_for
from ot_nicegui.widgets.fields import watch


def base_model_offer(session: ConfigSession) -> ui.row:
    config = session.config
    presets = session.builtin_store.root
    offered: dict[str, str] = {}
    with ui.row().classes('w-full items-center gap-2 px-1 ot-offer').props('role=status') \
            .mark('base-model-offer') as row:
        ui.icon('swap_horiz')
        text = ui.label('').classes('text-sm')
        ui.button('Use it', on_click=lambda: use()).props('dense no-caps').mark('base-model-use')
        ui.button('Keep mine', on_click=lambda: row.set_visibility(False)) \
            .props('flat dense no-caps').mark('base-model-keep')
    row.set_visibility(False)

    def on_model_type(_value) -> None:
        suggestion = offer_for(config.base_model_name, config.model_type, presets)
        if suggestion is None:
            row.set_visibility(False)
            return
        offered['name'] = suggestion
        current = f'"{config.base_model_name}" is not a {config.model_type.label} model' \
            if config.base_model_name else f'No base model is set for {config.model_type.label}'
        text.text = f'{current}. Use "{suggestion}"?'
        row.set_visibility(True)

    def use() -> None:
        config.base_model_name = offered['name']
        row.set_visibility(False)

    watch(config, 'model_type', on_model_type, row)
    watch(config, 'base_model_name', lambda _v: row.set_visibility(False) if config.base_model_name ==
          offered.get('name') else None, row)
    return row
