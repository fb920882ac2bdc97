"""The bottom bar: start/stop and the trainer's commands, progress bars, status, speed and ETA.

Every browser shows the same run. The progress part (`LiveProgress`) follows the live feed,
one message for all pages; the buttons are this page's own and change only with the run's phase:
idle (start), starting (stop), running (stop and every command), stopping (nothing).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nicegui import ui

from ot_nicegui.dialogs.concept import open_concept_dialog
from ot_nicegui.dialogs.problem_targets import Target, target_of
from ot_nicegui.dialogs.training import open_custom_sample, show_error_details, show_problems
from ot_nicegui.messages import plain_error
from ot_nicegui.schemas.search import Entry
from ot_nicegui.state.concept_list import concept_store
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.run_view import outcome_message
from ot_nicegui.state.training_session import Outcome, Phase, StartRefused
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.live_elements import LiveProgress
from ot_nicegui.widgets.live_feed import FeedUpdate, LiveFeed, get_live_feed

# which buttons each phase enables
_ENABLED = {
    Phase.IDLE: {'start'},
    Phase.STARTING: {'stop'},
    Phase.RUNNING: {'stop', 'sample', 'custom', 'backup', 'save'},
    Phase.STOPPING: set(),
}


def _icon_button(icon: str, label: str, marker: str, on_click) -> ui.button:
    """An icon that also shows its words on wide screens (Quasar's `gt-md`: wider than 1439 px)."""
    button = ui.button(icon=icon, on_click=on_click).props(f'flat dense no-caps color=white aria-label="{label}"') \
        .tooltip(label).mark(marker)
    with button:
        ui.label(label).classes('gt-md q-ml-xs').props('aria-hidden=true')
    return button


def _filled_cache(config_session: ConfigSession) -> Path | None:
    """The cache folder a start would clear, when it holds something."""
    config = config_session.config
    if not (config.latent_caching and config.clear_cache_before_training):
        return None
    folder = Path(config.cache_dir)
    folder = folder if folder.is_absolute() else Path(config_session.data_dir) / folder
    try:
        return folder if folder.is_dir() and any(folder.iterdir()) else None
    except OSError:
        return None


async def _ask_before_clearing(config_session: ConfigSession) -> str:
    """Ask before a start deletes a filled cache ("Clear cache before training" is on): 'clear',
    'keep' (start without clearing) or 'cancel'; 'clear' without asking when there is nothing to lose."""
    folder = _filled_cache(config_session)
    if folder is None:
        return 'clear'
    with ui.dialog() as dialog, ui.card().mark('clear-cache-dialog'):
        ui.label('Clear the cache?').classes('text-subtitle1').props('role=heading aria-level=2')
        ui.label(f'"Clear cache before training" is on: the cached latents and captions in {folder.name} '
                 'are deleted and computed again.').classes('text-sm')
        with ui.row().classes('w-full justify-end gap-2'):
            ui.button('Cancel', on_click=lambda: dialog.submit('cancel')).props('flat no-caps') \
                .mark('clear-cache-cancel')
            ui.button('Keep the cache and start', on_click=lambda: dialog.submit('keep')) \
                .props('flat no-caps').mark('clear-cache-keep')
            ui.button('Clear and start', on_click=lambda: dialog.submit('clear')).props('no-caps') \
                .mark('clear-cache-confirm')
    answer = await dialog
    dialog.delete()
    return answer or 'cancel'


def training_controls(config_session: ConfigSession, feed: LiveFeed, *,
                      index: Callable[[], list[Entry]] | None = None,
                      jump: Callable[[Entry], None] | None = None) -> None:
    """Build the controls of the run of `feed` for `config_session` (the live config and its data folder).

    With the page's settings `index` (the settings search's), a problem at Start names its setting
    by its label, and with `jump` (the page's way to a field) takes the user there."""
    session = feed.session

    def locate() -> Callable[[str], Target]:
        entries = index() if index is not None else []
        concepts = list(concept_store(config_session).items)
        return lambda path: target_of(path, config_session.config, concepts, entries)

    def go(target: Target) -> None:
        if target.concept is not None:  # the field is in the concept's dialog
            concepts = concept_store(config_session).items
            if target.concept < len(concepts):
                open_concept_dialog(config_session, concepts[target.concept])
        if jump is not None and target.entry is not None:
            jump(target.entry)

    async def start() -> None:
        choice = await _ask_before_clearing(config_session)
        if choice == 'cancel':
            return
        config = config_session.config
        if choice == 'keep':  # this run only: the setting itself stays as the user set it
            config = config.copy()
            config.clear_cache_before_training = False
        try:
            problems = session.start(config, config_session.data_dir)
        except StartRefused as exc:
            if exc.problems:
                show_problems(exc.problems, locate=locate(), go=go if jump is not None else None)
            else:
                ui.notify(f'Training cannot start: {plain_error(str(exc))}', type='warning')
            return
        where = locate()
        for problem in problems:
            ui.notify(f'{where(problem.path).title}: {problem.message}', type='warning')

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
        # a disabled red Stop still reads as "press me": it turns grey while nothing can be stopped
        buttons['stop'].props(f'color={"negative" if "stop" in enabled else "grey-7"}')
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


def install(config_session: ConfigSession) -> None:
    """Hook training into the app: the session's lifecycle and file route, and the live feed."""
    from ot_nicegui.state.training_session import install as install_session

    install_session(config_session)
    get_live_feed().attach()  # here, outside any page, so that it lives as long as the app
