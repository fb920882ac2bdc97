"""The layer-filter widget: a preset select, the pattern text and the regex switch.

Choosing a named preset writes its patterns and regex flag into the config and locks the text;
"custom" unlocks both. "full" (every layer) has no patterns, so the text is hidden.
"""
from __future__ import annotations

from nicegui import ui

from modules.config.base import BaseConfig
from modules.config.enums import ModelType
from modules.config.layer_presets import layer_presets
from ot_nicegui.widgets.fields import field_input, register_binding, tooltip_text, watch

CUSTOM = 'custom'


def layer_filter_input(owner: BaseConfig, model_type: ModelType, label: str = 'Layers',
                       path_prefix: str = '') -> ui.select:
    """Render the trio for `owner` (TrainConfig or its QuantizationConfig, whose dotted path is
    `path_prefix`, used as element markers); returns the preset select."""
    presets = {p.name: p for p in layer_presets(model_type)}
    options = [*presets, CUSTOM]
    current = owner.layer_filter_preset
    if current not in options:
        options.append(current)

    def choose(name: str) -> None:
        preset = presets.get(name)
        if preset is not None:
            owner.layer_filter = preset.layer_filter
            owner.layer_filter_regex = preset.regex
        owner.layer_filter_preset = name

    with ui.column().classes('w-full gap-1'):
        select = ui.select(options, value=current, label=label, on_change=lambda e: choose(e.value))
        select.tooltip(tooltip_text(type(owner).get_field('layer_filter_preset')))
        select.mark(f'{path_prefix}layer_filter_preset')
        text = field_input(owner, 'layer_filter').classes('w-full')
        regex = field_input(owner, 'layer_filter_regex')
        text.mark(f'{path_prefix}layer_filter')
        regex.mark(f'{path_prefix}layer_filter_regex')
    register_binding(type(owner), 'layer_filter_preset')

    def show(name: str) -> None:
        if name not in select.options:
            select.options.append(name)
            select.update()
        select.value = name
        custom = name not in presets
        text.set_enabled(custom)
        text.set_visibility(custom or bool(owner.layer_filter))
        regex.set_visibility(custom)

    show(current)
    watch(owner, ('layer_filter_preset', 'layer_filter'), lambda _: show(owner.layer_filter_preset), select)
    return select
