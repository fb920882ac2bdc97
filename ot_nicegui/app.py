"""The main page: top bar, model type and method, tabs, bottom status bar.

Everything is registered by `setup()` (called from `__main__.main`), never at import time, so a
test run can register it afresh.
"""
from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nicegui import app, context, ui
from nicegui.element_filter import ElementFilter

from modules.config.enums import TrainingMethod
from modules.config.train_config import TrainConfig
from ot_nicegui.auth import logout_button
from ot_nicegui.dialogs.changes import open_changes_dialog
from ot_nicegui.dialogs.entry_points import open_dialog
from ot_nicegui.help_pages import DOCS_DIR, SCREENSHOTS_ROUTE
from ot_nicegui.pages.dataset_editor import register as register_dataset_editor
from ot_nicegui.pages.run_page import register as register_run_page
from ot_nicegui.schemas.search import Entry, build_index
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.debug_report import keep_recent_log
from ot_nicegui.state.job_queue import install_queue
from ot_nicegui.state.notifications import install_notifier
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.base_model_offer import base_model_offer
from ot_nicegui.widgets.fields import field_input, watch
from ot_nicegui.widgets.notifications_panel import show_browser_notifications
from ot_nicegui.widgets.training_controls import install as install_training
from ot_nicegui.widgets.training_controls import training_controls

STATIC = Path(__file__).parent / 'static'
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TabSpec:
    key: str
    label: str
    module: str  # module with `render(ctx: TabContext)`
    visible: Callable[[TrainConfig], bool] = lambda _config: True


def _supports_embeddings(config: TrainConfig) -> bool:
    return TrainingMethod.EMBEDDING in config.model_type.supported_training_methods()


TABS = [
    TabSpec('general', 'General', 'ot_nicegui.tabs.general'),
    TabSpec('model', 'Model', 'ot_nicegui.tabs.model'),
    TabSpec('data', 'Data', 'ot_nicegui.tabs.data'),
    TabSpec('concepts', 'Concepts', 'ot_nicegui.tabs.concepts'),
    TabSpec('training', 'Training', 'ot_nicegui.tabs.training'),
    TabSpec('sampling', 'Sampling', 'ot_nicegui.tabs.sampling'),
    TabSpec('backup', 'Backup', 'ot_nicegui.tabs.backup'),
    TabSpec('tools', 'Tools', 'ot_nicegui.tabs.tools'),
    TabSpec('additional_embeddings', 'Additional Embeddings', 'ot_nicegui.tabs.additional_embeddings',
            _supports_embeddings),
    TabSpec('cloud', 'Cloud', 'ot_nicegui.tabs.cloud'),
    TabSpec('lora', 'LoRA', 'ot_nicegui.tabs.lora', lambda c: c.training_method == TrainingMethod.LORA),
    TabSpec('embedding', 'Embedding', 'ot_nicegui.tabs.embedding',
            lambda c: c.training_method == TrainingMethod.EMBEDDING),
    TabSpec('run', 'Run', 'ot_nicegui.tabs.run'),
    TabSpec('tensorboard', 'TensorBoard', 'ot_nicegui.tabs.tensorboard'),
    TabSpec('performance', 'Performance', 'ot_nicegui.tabs.performance'),
    TabSpec('help', 'Help', 'ot_nicegui.tabs.help'),
]


def visible_tabs(config: TrainConfig) -> list[TabSpec]:
    return [tab for tab in TABS if tab.visible(config)]


def setup(session: ConfigSession, *, login_required: bool = False) -> None:
    """Register the page and the lifecycle hooks; `login_required` adds a log-out button."""
    app.add_static_files('/ot-static', STATIC)
    if (DOCS_DIR / 'screenshots').is_dir():  # the Help tab's screenshots page
        app.add_static_files(f'/{SCREENSHOTS_ROUTE}', DOCS_DIR / 'screenshots')
    # Quasar's bar at the top of the window shows that a request is under way: a visual cue only
    # (the status line announces what happens), so assistive technology skips it
    app.config.quasar_config.setdefault('loadingBar', {})['aria-hidden'] = 'true'
    app.on_shutdown(session.flush)
    install_training(session)
    install_queue(session.data_dir)
    install_notifier(session.data_dir)
    keep_recent_log()  # the debug report's log lines

    @ui.page('/', title='OT NiceGUI')
    def index(tab: str = 'general', doc: str = 'index') -> None:
        MainPage(TabContext.of(session, doc), tab, login_required)

    register_run_page()  # the run on a phone: /run
    register_dataset_editor(session.data_dir)  # captions and masks of a folder: /dataset


class MainPage:
    """One browser tab's view of the shared session."""

    def __init__(self, ctx: TabContext, tab: str, login_required: bool):
        self.ctx = ctx
        session = self.session = ctx.session
        self.config = ctx.config
        self.tabs_spec = TABS
        ui.add_head_html('<link rel="stylesheet" href="ot-static/app.css?v=1">'
                         '<script src="ot-static/app.js?v=1" defer></script>')
        stored = app.storage.user.get('dark') if _has_user_storage() else None
        self.dark = ui.dark_mode(stored)

        self._top_bar()
        self._context_bar()
        self._tabs(tab)
        self._bottom_bar(login_required)
        self._update_tab_visibility()
        show_browser_notifications(self.status)
        session.subscribe(self._on_session_change)
        context.client.on_delete(lambda: session.unsubscribe(self._on_session_change))
        watch(self.config, ('training_method', 'model_type'), lambda _: self._update_tab_visibility(), self.tabs)

    # ---- top bar ------------------------------------------------------------------------------------
    def _top_bar(self) -> None:
        from ot_nicegui.widgets.preset_bar import PresetBar
        from ot_nicegui.widgets.search_box import search_box

        with ui.header(elevated=True).classes('items-center gap-2 px-3 py-1 flex-wrap ot-top'):
            ui.label('OT NiceGUI').classes('text-lg font-bold mr-2').props('role=heading aria-level=1')
            self.preset_bar = PresetBar(self.session, self.announce)
            self.changes_button = ui.button(on_click=self._open_changes) \
                .props('flat dense no-caps color=white').mark('changes-button')
            self.changes_button.tooltip('Fields that differ from the loaded preset')
            ui.space()
            search_box(self._search_index, self._tab_labels, self.jump)
            # Help stays one click away however many tabs push the tab bar past the window's width
            ui.button(icon='help_outline', on_click=lambda: self._show_tab('help')) \
                .props('flat round color=white aria-label="Help"').tooltip('Help').mark('help-button')
            self.theme_button = ui.button(on_click=self.toggle_theme) \
                .props('flat round color=white').mark('theme-toggle')
            self._show_theme()
            with ui.button(icon='more_vert').props('flat round color=white aria-label="More"') \
                    .mark('top-overflow'):
                with ui.menu():
                    ui.menu_item('Run view for phones', on_click=lambda: ui.navigate.to('/run')) \
                        .mark('menu-run-page')
                    ui.menu_item('Debug report', on_click=self._debug_report).mark('menu-debug-report') \
                        .tooltip('A zip for a bug report: the config without secrets, versions, system, recent log')
            ui.html('<span id="ot-connection" class="ot-connection" data-state="connecting" role="status" '
                    'aria-label="Connection: connecting" title="Connection to the server"></span>', sanitize=False)
        self._show_changes()

    def _context_bar(self) -> None:
        with ui.row().classes('w-full items-start gap-3 px-1 flex-wrap ot-context'):
            field_input(self.config, 'model_type').classes('w-64').mark('model_type')

            @ui.refreshable
            def method() -> None:
                field_input(self.config, 'training_method',
                            choices=self.config.model_type.supported_training_methods()) \
                    .classes('w-48').mark('training_method')

            with ui.element('div') as holder:
                method()
            watch(self.config, 'model_type', lambda _: method.refresh(), holder)
        base_model_offer(self.session)

    # ---- tabs -----------------------------------------------------------------------------------------
    def _tabs(self, selected: str) -> None:
        keys = [t.key for t in self.tabs_spec]
        selected = selected if selected in keys else 'general'
        self.tab_elements: dict[str, ui.tab] = {}
        with ui.tabs(value=selected).props('dense inline-label outside-arrows mobile-arrows align=left') \
                .classes('w-full ot-tabs') as self.tabs:
            for spec in self.tabs_spec:
                self.tab_elements[spec.key] = ui.tab(spec.key, spec.label).mark(f'tab-{spec.key}')
        # a tab's content is built the first time it is shown: the page opens fast and a model
        # type change only rebuilds the tabs this browser has visited
        self.panels: dict[str, ui.tab_panel] = {}
        self._built: set[str] = set()
        with ui.tab_panels(self.tabs, value=selected).props('keep-alive').classes('w-full ot-panels'):
            for spec in self.tabs_spec:
                self.panels[spec.key] = ui.tab_panel(spec.key)
        self.tabs.on_value_change(lambda e: self.build_tab(e.value))
        self.build_tab(selected)

    def build_tab(self, key: str) -> None:
        """Build a tab's content unless it has been built already."""
        panel = self.panels.get(key)
        if panel is None or key in self._built:
            return
        self._built.add(key)
        spec = next(t for t in self.tabs_spec if t.key == key)
        with panel:
            with ui.element('div').classes('w-full').mark(f'panel-{key}'):
                # names the tab's content for screen readers; section headings are level 3
                ui.label(spec.label).classes('ot-sr-only').props('role=heading aria-level=2')
                self._render_tab(spec)

    def _render_tab(self, spec: TabSpec) -> None:
        try:
            importlib.import_module(spec.module).render(self.ctx)
        except Exception:  # one broken tab must not take the whole page down
            log.warning('the %s tab could not be shown', spec.label, exc_info=True)
            ui.label(f'The {spec.label} tab could not be shown; the server log has the details.') \
                .props('role=alert')

    def _show_tab(self, key: str) -> None:
        self.tabs.value = key

    def _update_tab_visibility(self) -> None:
        for spec in self.tabs_spec:
            self.tab_elements[spec.key].set_visibility(spec.visible(self.config))
        if not self.tab_elements[self.tabs.value].visible:
            self.tabs.value = 'general'

    def _tab_labels(self) -> dict[str, str]:
        return {t.key: t.label for t in visible_tabs(self.config)}

    # ---- settings search ------------------------------------------------------------------------------
    def _search_index(self) -> list[Entry]:
        return build_index(self.config, [t.key for t in visible_tabs(self.config)])

    def jump(self, entry: Entry) -> None:
        """Show the entry's tab (and dialog), scroll its field into view and focus it."""
        if entry.tab:  # the fields above the tabs need no tab
            self.tabs.value = entry.tab
        if entry.dialog:
            open_dialog(entry.dialog, self.session)
        with self.tabs.client:
            targets = [e for e in ElementFilter(marker=entry.marker, local_scope=False)
                       if not e.is_deleted]
        if not targets:
            return
        self.announce(f'{entry.label} ({entry.path})')
        ui.run_javascript(f'otFocusField({targets[0].id})')

    # ---- bottom bar ---------------------------------------------------------------------------------
    def _bottom_bar(self, login_required: bool) -> None:
        with ui.footer().classes('items-center gap-3 px-3 py-1 ot-bottom'):
            self.status = ui.label('').props('role=status aria-live=polite').classes('text-sm grow') \
                .mark('status')
            training_controls(self.session, self.ctx.feed, index=self._search_index, jump=self.jump)
            if login_required:
                logout_button()

    async def _debug_report(self) -> None:
        from nicegui import run

        from ot_nicegui.state import debug_report
        from ot_nicegui.state.training_session import get_training_session

        data = await run.io_bound(debug_report.build, self.session, get_training_session())
        ui.download.content(data, f'ot-nicegui-debug-{time.strftime("%Y%m%d-%H%M%S")}.zip', 'application/zip')
        self.announce('Debug report written: it holds no secrets; attach it to a bug report')

    def announce(self, message: str) -> None:
        self.status.text = message

    # ---- session state shown in the bars -------------------------------------------------------------
    def _on_session_change(self) -> None:
        self.preset_bar.refresh()
        self._show_changes()

    def _show_changes(self) -> None:
        count = len(self.session.changes())
        self.changes_button.text = f'{count} change{"s" if count != 1 else ""}' if count else 'No changes'
        self.changes_button.props(f'aria-label="{self.changes_button.text} since the preset"')

    def _open_changes(self) -> None:
        open_changes_dialog(self.session)

    # ---- theme ----------------------------------------------------------------------------------------
    def toggle_theme(self) -> None:
        self.dark.value = not self.dark.value
        if _has_user_storage():
            app.storage.user['dark'] = self.dark.value
        self._show_theme()

    def _show_theme(self) -> None:
        dark = self.dark.value
        label = 'Switch to light theme' if dark else 'Switch to dark theme'
        self.theme_button.props(f'icon={"light_mode" if dark else "dark_mode"} aria-label="{label}"')


def _has_user_storage() -> bool:
    from nicegui.storage import Storage

    return Storage.secret is not None
