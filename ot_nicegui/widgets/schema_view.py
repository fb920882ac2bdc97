"""Render a tab schema: columns of titled sections of bound fields.

Every rendered value element is marked with its dotted config path, which is how the settings
search finds a field to scroll to.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from modules.config.base import BaseConfig
from modules.config.train_config import TrainConfig
from ot_nicegui.schemas.vocabulary import FieldDef, Section
from ot_nicegui.widgets.fields import field_input

# per-path additions a tab can pass: a setter with side effects, or extra controls after the field
Setters = dict[str, Callable[[Any], None]]
Extras = dict[str, Callable[[], None]]


def render_field(config: BaseConfig, fdef: FieldDef, setters: Setters | None = None,
                 extras: Extras | None = None) -> ui.element:
    setters = setters or {}
    if fdef.kind == 'layer_filter':
        from ot_nicegui.widgets.layer_filter import layer_filter_input

        owner = config.get_path(fdef.path.rstrip('.')) if fdef.path else config
        element = layer_filter_input(owner, config.model_type, fdef.label or 'Layers', fdef.path)
    elif fdef.kind == 'time':
        owner, f = config.resolve(fdef.path)
        with ui.row().classes('w-full items-start no-wrap gap-2'):
            element = field_input(owner, f.name, label=fdef.label).classes('grow').mark(fdef.path)
            field_input(owner, f'{f.name}_unit', label='Unit', choices=fdef.choices) \
                .classes('w-32').mark(f'{fdef.path}_unit')
    else:
        owner, f = config.resolve(fdef.path)
        with ui.row().classes('w-full items-start no-wrap gap-1') if fdef.path in (extras or {}) else _nothing():
            element = field_input(owner, f.name, label=fdef.label, choices=fdef.choices,
                                  on_set=setters.get(fdef.path)).classes('grow').mark(fdef.path)
            if extras and fdef.path in extras:
                extras[fdef.path]()
    return element


class _nothing:
    """A stand-in context manager when a field needs no wrapping row."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def render_section(config: TrainConfig, sec: Section, setters: Setters | None = None,
                   extras: Extras | None = None) -> None:
    with ui.card().classes('w-full gap-1 ot-section').props('flat bordered'):
        ui.label(sec.title).classes('text-base font-medium').props('role=heading aria-level=3')
        for fdef in sec.fields:
            render_field(config, fdef, setters, extras)


def render_schema(config: TrainConfig, schema: dict, setters: Setters | None = None,
                  extras: Extras | None = None) -> None:
    columns = schema['columns']
    with ui.element('div').classes(f'ot-columns ot-columns-{len(columns)} w-full'):
        for column in columns:
            with ui.column().classes('gap-3 w-full min-w-0'):
                for sec in column:
                    render_section(config, sec, setters, extras)
