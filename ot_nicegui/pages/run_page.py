"""The run on a phone (`/run`): one column with the run's status, progress and time left, Stop and
Sample now as large buttons, the loss chart and the latest samples.

It shows the same run as every other page, from the same live feed: progress and chart points
arrive with the feed's one message for all pages; the page itself is sent only what is new to it
(a loss series, a sample, the buttons when the run's phase changes). The password check of the
app covers this page like every other (the middleware guards every path but the login page's).
"""
from __future__ import annotations

from nicegui import app, ui

from ot_nicegui.dialogs.sample_view import open_large
from ot_nicegui.state.run_view import TRACE_STYLES, chart_group, sample_caption
from ot_nicegui.state.training_session import Phase, SampleRecord, file_url
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.live_elements import LivePlot, LiveProgress
from ot_nicegui.widgets.live_feed import FeedUpdate, LiveFeed, get_live_feed

PATH = '/run'
LATEST_SAMPLES = 4  # the newest thumbnails shown; the Run tab of the main page has them all
HEAD = ('<link rel="stylesheet" href="ot-static/app.css?v=1">'
        '<script src="ot-static/app.js?v=1" defer></script>'
        '<meta name="theme-color" content="#5898d4">')
# the progress component is laid out for the wide bottom bar: here its bars and its texts stack
PAGE_CSS = '.ot-run-progress .row.no-wrap { flex-wrap: wrap; row-gap: 8px; }'

# which buttons each phase enables (nothing to stop or sample while no run goes)
ENABLED = {
    Phase.IDLE: set(),
    Phase.STARTING: {'stop'},
    Phase.RUNNING: {'stop', 'sample'},
    Phase.STOPPING: set(),
}


def register() -> None:
    """Register the page (inside `setup()`, like every page of the app)."""

    @ui.page(PATH, title='Run – OT NiceGUI')
    def run_page() -> None:
        RunPage(get_live_feed())


class LossChart:
    """The run's loss and smoothed loss (the main page's Run tab charts every logged value)."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.plot = LivePlot(feed.channel, feed.run_stream, 'Loss', y_title='Loss') \
            .classes('w-full').style('height: 240px').mark('run-page-loss')
        self.plot.figure['layout']['margin'] = {'l': 45, 'r': 10, 't': 35, 'b': 35}
        self.plot.figure['config']['displayModeBar'] = False  # zoom tools crowd a phone's screen
        self.add_tags(feed.run_stream.series)

    def add_tags(self, tags) -> None:
        new = [tag for tag in tags if chart_group(tag) == 'loss' and tag not in self.plot.keys]
        for tag in new:
            self.plot.add_trace(tag, TRACE_STYLES.get(tag))
        if new:
            self.plot.update()

    def clear(self) -> None:
        self.plot.show(self.feed.run_stream)
        self.plot.update()


class LatestSamples:
    """The newest few samples, newest first; a tap opens the large view."""

    def __init__(self) -> None:
        self.records: list[SampleRecord] = []
        self.content = ui.refreshable(self._render)
        self.content()

    def _render(self) -> None:
        if not self.records:
            ui.label('No samples yet.').classes('text-sm opacity-70').mark('run-page-no-samples')
            return
        with ui.element('div').classes('w-full grid grid-cols-2 gap-2').mark('run-page-samples'):
            for record in reversed(self.records):
                with ui.column().classes('gap-0 items-center cursor-pointer').mark('run-page-sample') as item:
                    image = ui.image(file_url(record)).props('fit=contain').classes('w-full rounded') \
                        .style('aspect-ratio: 1')
                    image.props['alt'] = sample_caption(record)
                    ui.label(f'step {record.step}').classes('text-xs')
                item.on('click', lambda r=record: open_large(r))

    def set(self, records: list[SampleRecord]) -> None:
        latest = records[-LATEST_SAMPLES:]
        if latest != self.records:
            self.records = latest
            self.content.refresh()


class RunPage:
    """One browser's phone view of the shared run."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        session = self.session = feed.session
        ui.add_head_html(HEAD)
        ui.add_css(PAGE_CSS)
        stored = app.storage.user.get('dark') if _has_user_storage() else None
        ui.dark_mode(stored)
        ui.query('.nicegui-content').classes('p-3')

        with ui.column().classes('w-full gap-3 mx-auto').style('max-width: 640px').mark('run-page') as page:
            with ui.row().classes('w-full items-center no-wrap gap-2'):
                ui.label('Training run').classes('text-lg font-bold grow').props('role=heading aria-level=1')
                ui.html('<span id="ot-connection" class="ot-connection" data-state="connecting" role="status" '
                        'aria-label="Connection: connecting" title="Connection to the server"></span>',
                        sanitize=False)
                ui.button('Settings', icon='tune', on_click=lambda: ui.navigate.to('/?tab=run')) \
                    .props('flat no-caps').mark('run-page-settings') \
                    .tooltip('All settings and charts of the run on the main page')
            # the bars' colours of the bottom bar (its progress component is drawn for them)
            with ui.card().classes('w-full ot-run-progress').mark('run-page-progress') \
                    .style('background: var(--ot-bar-bg); color: var(--ot-bar-text)'):
                LiveProgress(feed).classes('w-full').mark('train-progress')
            with ui.row().classes('w-full no-wrap gap-3'):
                self.stop = ui.button('Stop', icon='stop', color='negative', on_click=self._stop) \
                    .classes('grow').style('min-height: 56px; flex-basis: 0').mark('run-page-stop')
                self.sample = ui.button('Sample now', icon='image', on_click=self._sample_now) \
                    .classes('grow').style('min-height: 56px; flex-basis: 0').mark('run-page-sample-now')
            self.hint = ui.label('Nothing is running. Start training on the main page.') \
                .classes('text-sm opacity-70').mark('run-page-idle')
            self.chart = LossChart(feed)
            ui.label('Latest samples').classes('text-subtitle1').props('role=heading aria-level=2')
            self.samples = LatestSamples()
        self.samples.set(session.samples)
        self._show_phase()
        follow(feed.changed, page, self._on_change)

    def _stop(self) -> None:
        self.session.stop()

    def _sample_now(self) -> None:
        if self.session.sample_now():
            ui.notify('Sample requested', type='info')

    def _show_phase(self) -> None:
        enabled = ENABLED[self.session.phase]
        self.stop.set_enabled('stop' in enabled)
        self.sample.set_enabled('sample' in enabled)
        self.hint.set_visibility(self.session.phase == Phase.IDLE)

    def _on_change(self, change: FeedUpdate) -> None:
        update = change.update
        if update.reset:
            self.chart.clear()
        if change.new_tags:
            self.chart.add_tags(change.new_tags)
        if update.samples or update.reset:
            self.samples.set(self.session.samples)
        if change.phase_changed:
            self._show_phase()


def _has_user_storage() -> bool:
    from nicegui.storage import Storage

    return Storage.secret is not None
