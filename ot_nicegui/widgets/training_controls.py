"""The bottom bar: start/stop and the trainer's commands, progress bars, status, speed and ETA.

Every browser shows the same run. The progress part (`LiveProgress`) follows the live feed,
one message for all pages; the buttons are this page's own and change only with the run's phase:
idle (start), starting (stop), running (stop and every command), stopping (nothing).
"""
from __future__ import annotations

from typing import Any

from nicegui import context, ui

from modules.config.sample_config import SampleConfig
from ot_nicegui.state.training_session import (
    Outcome,
    Phase,
    RunSummary,
    StartRefused,
    TrainingSession,
)
from ot_nicegui.widgets.fields import field_input
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.live_elements import LiveProgress
from ot_nicegui.widgets.live_feed import FeedUpdate, format_duration, get_live_feed

CUSTOM_SAMPLE_FIELDS = ('prompt', 'negative_prompt', 'width', 'height', 'seed', 'random_seed',
                        'diffusion_steps', 'cfg_scale', 'noise_scheduler')

# which buttons each phase enables
_ENABLED = {
    Phase.IDLE: {'start'},
    Phase.STARTING: {'stop'},
    Phase.RUNNING: {'stop', 'sample', 'custom', 'backup', 'save'},
    Phase.STOPPING: set(),
}


def outcome_message(summary: RunSummary) -> tuple[str, str]:
    """(text, notification type) for a run that ended."""
    if summary.outcome == Outcome.FINISHED:
        return f'Training finished after {format_duration(summary.duration)}', 'positive'
    if summary.outcome == Outcome.STOPPED:
        return 'Training stopped', 'info'
    return f'Training failed: {summary.error}', 'negative'


def show_problems(problems: list, title: str = 'Training cannot start') -> ui.dialog:
    """A dialog listing every problem of the config, errors first."""
    with context.client.layout:
        dialog = ui.dialog().mark('start-problems')
    ordered = sorted(problems, key=lambda p: p.severity != 'error')
    with dialog, ui.card().style('width: 720px; max-width: 96vw'):
        ui.label(title).classes('text-h6')
        with ui.column().classes('gap-1'):
            for problem in ordered:
                error = problem.severity == 'error'
                with ui.row().classes('items-start no-wrap gap-2'):
                    ui.icon('error' if error else 'warning', color='negative' if error else 'warning')
                    ui.label(f'{problem.path}: {problem.message}').mark('start-problem')
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


def _icon_button(icon: str, label: str, marker: str, on_click) -> ui.button:
    return ui.button(icon=icon, on_click=on_click).props(f'flat round color=white aria-label="{label}"') \
        .tooltip(label).mark(marker)


def training_controls(config_session) -> None:
    """Build the bar for `config_session` (the live config and its data folder)."""
    feed = get_live_feed()
    session = feed.session

    def start() -> None:
        try:
            problems = session.start(config_session.config, config_session.data_dir)
        except StartRefused as exc:
            if exc.problems:
                show_problems(exc.problems)
            else:
                ui.notify(f'Training cannot start: {exc}', type='warning')
            return
        for problem in problems:
            ui.notify(f'{problem.path}: {problem.message}', type='warning')

    def command(action, done: str) -> None:
        if action():
            ui.notify(done, type='info')

    with ui.row().classes('grow items-center gap-x-3 gap-y-1').mark('training-controls') as bar:
        with ui.row().classes('items-center gap-1'):
            buttons = {
                'start': ui.button('Start training', icon='play_arrow', on_click=start).mark('train-start'),
                'stop': ui.button('Stop', icon='stop', color='negative', on_click=session.stop).mark('train-stop'),
                'sample': _icon_button('image', 'Sample now', 'train-sample',
                                       lambda: command(session.sample_now, 'Sample requested')),
                'custom': _icon_button('tune', 'Sample with custom settings', 'train-custom-sample',
                                       lambda: open_custom_sample(session, config_session.config.model_type)),
                'backup': _icon_button('inventory_2', 'Backup now', 'train-backup',
                                       lambda: command(session.backup_now, 'Backup requested')),
                'save': _icon_button('save', 'Save now', 'train-save',
                                     lambda: command(session.save_now, 'Save requested')),
            }
        LiveProgress(feed).classes('grow').mark('train-progress')
        details = ui.button('Details', icon='bug_report',
                            on_click=lambda: show_error_details(session.summary)).props('flat dense') \
            .mark('train-error-details')

    def render_phase() -> None:
        enabled = _ENABLED[session.phase]
        for name, button in buttons.items():
            button.set_enabled(name in enabled)
        details.set_visibility(session.last_outcome == Outcome.FAILED and session.phase == Phase.IDLE)

    def on_change(change: FeedUpdate) -> None:
        if change.phase_changed:
            render_phase()
        ended = change.update.ended
        if ended is not None:
            text, kind = outcome_message(ended)
            ui.notify(text, type=kind, close_button=kind == 'negative', timeout=0 if kind == 'negative' else 5000)

    render_phase()
    follow(feed.changed, bar, on_change)


def install(config_session) -> None:
    """Hook training into the app: the session's lifecycle and file route, and this bar."""
    from ot_nicegui import app as shell
    from ot_nicegui.state.training_session import install as install_session

    install_session(config_session)
    get_live_feed().attach()  # here, outside any page, so that it lives as long as the app
    if training_controls not in shell.BOTTOM_BAR:
        shell.BOTTOM_BAR.append(training_controls)
