"""A tab that is nothing but its schema, rebuilt when a field it depends on changes."""
from __future__ import annotations

from collections.abc import Iterable

from nicegui import ui

from ot_nicegui.schemas.tabs import schema_for
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.fields import watch
from ot_nicegui.widgets.schema_view import Extras, Setters, render_schema


def render_schema_tab(ctx: TabContext, key: str, rebuild_on: Iterable[str] = (),
                      setters: Setters | None = None, extras: Extras | None = None) -> None:
    config = ctx.config

    @ui.refreshable
    def content() -> None:
        render_schema(config, schema_for(key, config), setters, extras)

    with ui.column().classes('w-full') as holder:
        content()
    rebuild_on = tuple(rebuild_on)
    if rebuild_on:
        watch(config, rebuild_on, lambda _: content.refresh(), holder)
