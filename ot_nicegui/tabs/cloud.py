"""The Cloud tab."""
from __future__ import annotations

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs._schema_tab import render_schema_tab


def render(session: ConfigSession) -> None:
    render_schema_tab(session, 'cloud')
