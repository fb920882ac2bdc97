"""The timestep distribution dialog: its settings and a live histogram of the sampled timesteps."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from nicegui import background_tasks, run, ui

from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.dialogs.timestep_preview import TRAIN_TIMESTEPS, histogram_figure, timestep_histogram
from ot_nicegui.messages import plain_error
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, watch

PREVIEWED = ('timestep_distribution', 'min_noising_strength', 'max_noising_strength', 'noising_weight',
             'noising_bias', 'timestep_shift')


def open_timestep_dialog(session: ConfigSession) -> ui.dialog:
    config = session.config
    with dialog_frame('Timestep distribution', 'timestep-dialog', width='1000px') as dialog:
        # side by side where there is room; on a phone the histogram goes below the settings
        with ui.row().classes('w-full items-start gap-6'):
            with ui.column().classes('gap-1').style('flex: 1 1 260px'):
                for name in PREVIEWED:
                    field_input(config, name).classes('w-full').mark(f'timestep-{name}')
                field_input(config, 'dynamic_timestep_shifting').mark('timestep-dynamic_timestep_shifting') \
                    .tooltip('Depends on the image size while training; the preview does not show it.')
            with ui.column().classes('gap-1').style('flex: 3 1 320px; min-width: 0'):
                plot = ui.plotly(histogram_figure(np.zeros(TRAIN_TIMESTEPS, dtype=np.int64))) \
                    .classes('w-full').mark('timestep-preview')
                ui.label('1,000,000 timesteps drawn as training draws them (1000 training timesteps).') \
                    .classes('text-caption text-grey-8')
        _LivePreview(config, plot)
    return dialog


class _LivePreview:
    """Redraws the histogram after each change; changes made while drawing are drawn next."""

    def __init__(self, config: Any, plot: ui.plotly):
        self.config = config
        self.plot = plot
        self.busy = False
        self.pending = False
        watch(config, PREVIEWED, lambda _: self.schedule(), plot)
        self.schedule()

    def schedule(self) -> None:
        if self.busy:
            self.pending = True
            return
        self.busy = True
        background_tasks.create(self._loop(), name='timestep preview')

    async def _loop(self) -> None:
        try:
            while True:
                self.pending = False
                snapshot = SimpleNamespace(**{name: getattr(self.config, name) for name in PREVIEWED})
                try:
                    counts = await run.io_bound(timestep_histogram, snapshot)
                except (ValueError, RuntimeError) as exc:  # e.g. a range that holds no timestep
                    counts = None
                    if not self.plot.is_deleted:
                        ui.notify(f'Cannot preview these settings: {plain_error(exc)}', type='warning')
                if self.plot.is_deleted:
                    return
                if counts is not None:
                    self.plot.figure = histogram_figure(counts)
                    self.plot.update()
                if not self.pending:
                    return
        finally:
            self.busy = False
