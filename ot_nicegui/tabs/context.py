"""What every tab is built from: `render(ctx)` gets one of these."""
from __future__ import annotations

from dataclasses import dataclass

from modules.config.train_config import TrainConfig
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.system_monitor import SystemMonitor, get_monitor
from ot_nicegui.widgets.live_feed import LiveFeed, get_live_feed


@dataclass(frozen=True)
class TabContext:
    """The process-wide state a page shows (the config, the run, the machine) and what the page's
    URL asked for."""

    session: ConfigSession
    feed: LiveFeed
    monitor: SystemMonitor
    help_page: str = 'index'

    @classmethod
    def of(cls, session: ConfigSession, help_page: str = 'index') -> TabContext:
        """The context of a page of `session`, with the process's run feed and system monitor."""
        return cls(session, get_live_feed(), get_monitor(), help_page)

    @property
    def config(self) -> TrainConfig:
        return self.session.config
