"""The Model tab: base model, components of this model type, quantization, output."""
from __future__ import annotations

from ot_nicegui.tabs._schema_tab import render_schema_tab
from ot_nicegui.tabs.context import TabContext


def render(ctx: TabContext) -> None:
    # components follow the model type; output formats follow the model type and the method
    render_schema_tab(ctx, 'model', rebuild_on=('model_type', 'training_method'))
