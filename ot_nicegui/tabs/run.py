"""The Run tab: the live run's charts, its sample gallery and a summary.

Built from the training session's state when the page opens (so a reload or a second browser
sees the whole run). While the run goes, chart points arrive with the live feed's one message for
all pages (a chart the page does not show only collects them); the page itself is sent only what
is new to it: a chart or series, a sample thumbnail, the summary when the run starts or ends.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from nicegui import ui

from ot_nicegui.dialogs.sample_view import open_large
from ot_nicegui.dialogs.training import show_error_details
from ot_nicegui.pages.run_page import PATH as RUN_PAGE_PATH
from ot_nicegui.state.run_view import (
    TRACE_STYLES,
    group_tags,
    group_title,
    sample_caption,
)
from ot_nicegui.state.training_session import Outcome, SampleRecord, file_url
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.job_queue_panel import job_queue_panel
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.live_elements import LiveClock, LivePlot
from ot_nicegui.widgets.live_feed import FeedUpdate, LiveFeed

WAITING = 'ot-chart-waiting'  # a chart without points yet: not shown (app.css)


class RunCharts:
    """One chart per tag group, created when the group's first point arrives; the loss chart
    (every run logs a loss) is there from the start, so that the browser loads plotly.js when the
    tab opens rather than while the run goes. Points reach the page through the live feed."""

    ORDER = ('loss', 'lr', 'validation')
    FIRST = 'loss'

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.charts: dict[str, LivePlot] = {}
        with ui.element('div').classes('w-full grid gap-2 ot-run-charts') \
                .style('grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr))') as self.holder:
            self.empty = ui.label('Start training to see the loss here: it appears with the first steps.') \
                .classes('text-sm opacity-70').mark('run-charts-empty')
        self._chart(self.FIRST).classes(add=WAITING)  # no empty axes: the message says what comes

    def _chart(self, group: str) -> LivePlot:
        chart = self.charts.get(group)
        if chart is None:
            with self.holder:
                chart = self.charts[group] = LivePlot(self.feed.channel, self.feed.run_stream, group_title(group),
                                                      y_title=group_title(group), log_y=group == 'lr') \
                    .classes('w-full').style('height: 280px').mark(f'run-chart-{group}')
        return chart

    def add_tags(self, tags: Iterable[str]) -> None:
        """Show the run stream's series of `tags` that have no trace yet."""
        shown = {tag for chart in self.charts.values() for tag in chart.keys}
        new = [tag for tag in tags if tag not in shown]
        if not new:
            return
        changed = []
        for group, members in sorted(group_tags(new).items(),
                                     key=lambda g: (self.ORDER.index(g[0]) if g[0] in self.ORDER else 99, g[0])):
            chart = self._chart(group)
            for tag in members:
                chart.add_trace(tag, TRACE_STYLES.get(tag))
            changed.append(chart)
            chart.classes(remove=WAITING)
        self.empty.set_visibility(False)
        for chart in changed:
            chart.update()

    def clear(self) -> None:
        """Empty charts for a new run (the feed's stream of it)."""
        for group, chart in list(self.charts.items()):
            if group == self.FIRST:
                chart.show(self.feed.run_stream)
                chart.classes(add=WAITING)
                chart.update()
            else:
                chart.delete()
                del self.charts[group]
        self.empty.set_visibility(True)


class Gallery:
    """Samples in one row per prompt, ordered by step; a click opens the large view."""

    MAX_PER_PROMPT = 60  # the oldest thumbnails of a long run make way for new ones

    def __init__(self) -> None:
        self.rows: dict[tuple, ui.row] = {}
        with ui.column().classes('w-full gap-3').mark('sample-gallery') as self.holder:
            self.empty = ui.label('No samples yet.').classes('text-sm opacity-70').mark('gallery-empty')

    def add(self, record: SampleRecord) -> None:
        key = (record.custom, record.index if not record.custom else None, record.prompt)
        row = self.rows.get(key)
        if row is None:
            with self.holder:
                with ui.column().classes('w-full gap-1'):
                    title = f'Custom: {record.prompt}' if record.custom else record.prompt or '(no prompt)'
                    ui.label(title).classes('text-sm font-medium').mark('gallery-prompt')
                    row = self.rows[key] = ui.row().classes('gap-2 no-wrap overflow-x-auto w-full pb-1')
            self.empty.set_visibility(False)
        with row:
            with ui.column().classes('gap-0 items-center cursor-pointer').mark('gallery-item') as item:
                image = ui.image(file_url(record)).props('fit=contain').classes('w-28 h-28 rounded') \
                    .mark('gallery-image')
                image.props['alt'] = sample_caption(record)
                ui.label(f'step {record.step}').classes('text-xs')
            item.on('click', lambda r=record: open_large(r))
        children = list(row)
        for old in children[:-self.MAX_PER_PROMPT]:
            old.delete()

    def clear(self) -> None:
        for row in self.rows.values():
            row.parent_slot.parent.delete()
        self.rows.clear()
        self.empty.set_visibility(True)


class Summary:
    """Key facts of the current (or last) run."""

    def __init__(self, feed: LiveFeed):
        self.feed = feed
        self.session = feed.session
        with ui.card().classes('w-full').mark('run-summary'):
            self.content = ui.refreshable(self._render)
            self.content()

    def _render(self) -> None:
        summary = self.session.summary
        if summary is None:
            ui.label('No run yet. Start training from the bottom bar.').classes('text-sm').mark('run-summary-empty')
            return
        state = summary.outcome.value if summary.outcome else self.session.phase.value
        rows = [
            ('State', state),
            ('Model', f'{summary.model_type} · {summary.training_method}'),
            ('Base model', summary.base_model),
            ('Optimizer', f'{summary.optimizer}, learning rate {summary.learning_rate}'),
            ('Epochs / batch size', f'{summary.epochs} / {summary.batch_size}'),
            ('Started', time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(summary.started_at))),
            ('Duration', None),  # counts on in the page while the run goes
            ('Workspace', summary.workspace_dir),
            ('Output', summary.output),
        ]
        with ui.grid(columns='auto 1fr').classes('gap-x-4 gap-y-0 text-sm'):
            for name, value in rows:
                ui.label(name).classes('opacity-70')
                marker = f'run-summary-{name.split()[0].lower()}'
                if value is None:
                    LiveClock(self.feed).mark(marker)
                else:
                    ui.label(str(value)).classes('break-all').mark(marker)
        if summary.outcome == Outcome.FAILED:
            with ui.row().classes('items-center gap-2'):
                ui.label(summary.error).classes('text-negative text-sm').mark('run-error')
                ui.button('Show traceback', on_click=lambda: show_error_details(summary)).props('flat dense')

    def refresh(self) -> None:
        self.content.refresh()


def render(ctx: TabContext) -> None:
    feed = ctx.feed
    session = feed.session
    with ui.column().classes('w-full gap-3').mark('run-page') as page:
        with ui.row().classes('w-full items-center gap-2'):
            ui.button('Phone view', icon='smartphone', on_click=lambda: ui.navigate.to(RUN_PAGE_PATH)) \
                .props('outline no-caps').mark('open-run-page') \
                .tooltip('The run alone on one compact page: status, progress, loss, samples, Stop and Sample now')
        summary = Summary(feed)
        ui.label('Charts').classes('text-subtitle1')
        charts = RunCharts(feed)
        ui.label('Samples').classes('text-subtitle1')
        gallery = Gallery()
        job_queue_panel(ctx)
    charts.add_tags(list(feed.run_stream.series))
    for record in session.samples:
        gallery.add(record)

    def on_change(change: FeedUpdate) -> None:
        update = change.update
        if update.reset:
            charts.clear()
            gallery.clear()
        if change.new_tags:
            charts.add_tags(change.new_tags)
        for record in update.samples:
            gallery.add(record)
        if change.phase_changed:
            summary.refresh()

    follow(feed.changed, page, on_change)
