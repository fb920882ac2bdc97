"""The training dialogs: why a run cannot start, why it failed, and a sample with custom settings."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import context, ui

from modules.config.sample_config import SampleConfig
from ot_nicegui.dialogs.problem_targets import Target
from ot_nicegui.state.training_session import RunSummary, TrainingSession
from ot_nicegui.widgets.fields import field_input

CUSTOM_SAMPLE_FIELDS = ('prompt', 'negative_prompt', 'width', 'height', 'seed', 'random_seed',
                        'diffusion_steps', 'cfg_scale', 'noise_scheduler')


def show_problems(problems: list, title: str = 'Training cannot start', *,
                  locate: Callable[[str], Target] | None = None,
                  go: Callable[[Target], None] | None = None) -> ui.dialog:
    """A dialog listing every problem of the config, errors first. `locate` names each problem's
    setting as the user knows it; with `go`, a button takes the user to it."""
    with context.client.layout:
        dialog = ui.dialog().mark('start-problems')
    ordered = sorted(problems, key=lambda p: p.severity != 'error')

    def go_to(target: Target) -> None:
        if go is not None:
            go(target)
        dialog.close()

    with dialog, ui.card().style('width: 720px; max-width: 96vw'):
        ui.label(title).classes('text-h6')
        with ui.column().classes('gap-1 w-full'):
            for index, problem in enumerate(ordered):
                error = problem.severity == 'error'
                target = locate(problem.path) if locate is not None else Target(problem.path, None)
                with ui.row().classes('w-full items-center no-wrap gap-2'):
                    ui.icon('error' if error else 'warning', color='negative' if error else 'warning') \
                        .props(f'aria-label="{"Error" if error else "Warning"}"')
                    ui.label(f'{target.title}: {problem.message}').classes('grow').mark('start-problem')
                    if go is not None and target.entry is not None:
                        ui.button('Go to', icon='arrow_forward', on_click=lambda t=target: go_to(t)) \
                            .props(f'flat dense no-caps aria-label="Go to {target.title}"') \
                            .mark(f'start-problem-go-{index}')
        with ui.row().classes('w-full justify-end'):
            ui.button('Close', on_click=dialog.close).mark('start-problems-close')
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()
    return dialog


def show_error_details(summary: RunSummary | None) -> None:
    if summary is None or not summary.traceback:
        return
    with context.client.layout:
        dialog = ui.dialog().mark('train-error-dialog')
    with dialog, ui.card().style('width: 900px; max-width: 96vw'):
        ui.label(summary.error).classes('text-h6 text-negative')
        ui.code(summary.traceback, language='text').classes('w-full').mark('train-traceback')
        with ui.row().classes('w-full justify-end'):
            ui.button('Close', on_click=dialog.close)
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()


class _CustomSample:
    """The custom sample the dialog edits; kept for the process so the last prompt is remembered."""

    sample: SampleConfig | None = None
    model_type: Any = None

    @classmethod
    def get(cls, model_type) -> SampleConfig:
        if cls.sample is None or cls.model_type != model_type:
            cls.sample = SampleConfig.for_model_type(model_type)
            cls.model_type = model_type
        return cls.sample


def open_custom_sample(session: TrainingSession, model_type) -> ui.dialog:
    sample = _CustomSample.get(model_type)
    with context.client.layout:
        dialog = ui.dialog().mark('custom-sample-dialog')
    with dialog, ui.card().style('width: 640px; max-width: 96vw'):
        ui.label('Sample with custom settings').classes('text-h6')
        with ui.grid(columns=2).classes('w-full gap-2'):
            for name in CUSTOM_SAMPLE_FIELDS:
                field_input(sample, name).classes('w-full').mark(f'custom-sample-{name}')

        def submit() -> None:
            if session.sample_custom(sample):
                ui.notify('Custom sample requested', type='info')
            else:
                ui.notify('Samples can be requested only while training runs', type='warning')
            dialog.close()

        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat')
            ui.button('Sample', icon='image', on_click=submit).mark('custom-sample-submit')
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()
    return dialog
