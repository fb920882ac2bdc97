"""The Model tab: base model, components of this model type, quantization, output."""
from __future__ import annotations

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs._schema_tab import render_schema_tab


def render(session: ConfigSession) -> None:
    # components follow the model type; output formats follow the model type and the method
    render_schema_tab(session, 'model', rebuild_on=('model_type', 'training_method'))
