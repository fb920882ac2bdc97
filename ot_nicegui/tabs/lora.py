"""The LoRA tab (training method LoRA): adapter type and its settings."""
from __future__ import annotations

from ot_nicegui.tabs._schema_tab import render_schema_tab
from ot_nicegui.tabs.context import TabContext


def render(ctx: TabContext) -> None:
    render_schema_tab(ctx, 'lora', rebuild_on=('peft_type',))
