"""The job queue on the Run tab: add the current config, order, start or pause, resume; and the
REST API's tokens (created here, shown once, revocable)."""
from __future__ import annotations

import time

from nicegui import ui

from modules.config.base import ConfigError
from ot_nicegui.state.job_queue import JobQueue, get_job_queue
from ot_nicegui.state.job_store import Job, JobError, JobState
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.live_chart import follow
from ot_nicegui.widgets.notifications_panel import notifications_panel

STATE_COLOURS = {JobState.QUEUED: 'grey-7', JobState.RUNNING: 'primary', JobState.DONE: 'positive',
                 JobState.FAILED: 'negative', JobState.STOPPED: 'warning', JobState.INTERRUPTED: 'warning'}
RESUMABLE = frozenset({JobState.STOPPED, JobState.FAILED, JobState.INTERRUPTED})


def _when(stamp: float | None) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(stamp)) if stamp else 'never'


def _what(job: Job) -> str:
    """Model type and method of the job's config, in the words of the model selector."""
    from modules.config.enums import ModelType, TrainingMethod

    try:
        return f"{ModelType(job.config['model_type']).label} · {TrainingMethod(job.config['training_method']).label}"
    except (KeyError, ValueError):
        return ''


class JobQueuePanel:
    def __init__(self, ctx: TabContext, queue: JobQueue):
        self.ctx = ctx
        self.queue = queue
        with ui.column().classes('w-full gap-2').mark('job-queue') as self.root:
            with ui.row().classes('w-full items-center gap-2'):
                ui.label('Queue').classes('text-subtitle1').props('role=heading aria-level=3')
                ui.button('Add current config', icon='playlist_add', on_click=self.add_current) \
                    .props('outline no-caps').mark('queue-add') \
                    .tooltip('Queue the config as it is now (its concepts and samples are copied into the job)')
                self.toggle = ui.button(on_click=self.toggle_running).props('no-caps').mark('queue-toggle')
            self.jobs = ui.column().classes('w-full gap-1').mark('queue-jobs')
            with ui.expansion('API tokens', icon='key').classes('w-full').mark('api-tokens'):
                ui.label('Scripts use the REST API under /api/ (description at /api/docs). When the app has a '
                         'password, each request needs a token.').classes('text-sm')
                with ui.row().classes('items-center gap-2'):
                    self.token_name = ui.input('Token name', placeholder='e.g. nightly script') \
                        .props('dense').mark('token-name')
                    ui.button('Create token', on_click=self.create_token).props('outline no-caps') \
                        .mark('token-create')
                self.tokens = ui.column().classes('w-full gap-1').mark('token-list')
            notifications_panel()
        self.refresh()
        follow(queue.changed, self.root, self.refresh)

    # ---- jobs ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.toggle.text = 'Pause queue' if self.queue.running else 'Start queue'
        self.toggle.props(f'icon={"pause" if self.queue.running else "play_arrow"}')
        self.jobs.clear()
        jobs = self.queue.store.jobs()
        with self.jobs:
            if not jobs:
                ui.label('No jobs. "Add current config" queues what is set up now; jobs run one after '
                         'another once the queue is started.').classes('text-sm opacity-80').mark('queue-empty')
            for index, job in enumerate(jobs):
                self._job_row(job, index, len(jobs))
        self._show_tokens()

    def _job_row(self, job: Job, index: int, count: int) -> None:
        with ui.row().classes('w-full items-center gap-2 no-wrap').mark(f'job-{job.id}'):
            ui.badge(job.state.value, color=STATE_COLOURS[job.state]).mark('job-state')
            with ui.column().classes('gap-0 grow min-w-0'):
                ui.label(f'#{job.id} {job.name}').classes('ellipsis')
                ui.label(_what(job)).classes('text-xs opacity-80')
                if job.message:
                    ui.label(job.message).classes('text-xs text-negative ellipsis').tooltip(job.message)
            self._icon(job.id, 'arrow_upward', 'Move up', lambda: self.queue.move(job.id, index - 1), index > 0)
            self._icon(job.id, 'arrow_downward', 'Move down', lambda: self.queue.move(job.id, index + 1), index < count - 1)
            if job.state == JobState.QUEUED:
                self._icon(job.id, 'play_arrow', 'Start this job now', lambda: self.queue.run_now(job.id),
                           not self.queue.session.busy)
            if job.state == JobState.RUNNING:
                self._icon(job.id, 'stop', 'Stop this job (it saves first)', lambda: self.queue.stop(job.id), True)
            if job.state in RESUMABLE:
                self._icon(job.id, 'replay', 'Queue again, continuing from its last backup', lambda: self.queue.resume(job.id),
                           True)
            self._icon(job.id, 'delete', 'Remove from the queue', lambda: self.queue.remove(job.id),
                       job.state != JobState.RUNNING)

    def _icon(self, job_id: int, icon: str, label: str, action, enabled: bool) -> None:
        button = ui.button(icon=icon, on_click=lambda: self._do(action)) \
            .props(f'flat round dense aria-label="{label}"').tooltip(label).mark(f'job-{job_id}-{icon}')
        button.set_enabled(enabled)

    def _do(self, action) -> None:
        try:
            action()
        except (JobError, ConfigError) as exc:
            ui.notify(str(exc), type='negative')

    def add_current(self) -> None:
        try:
            job = self.queue.add(self.ctx.session.export_pack())
        except (JobError, ConfigError, OSError) as exc:
            ui.notify(f'Could not queue the config: {exc}', type='negative')
            return
        ui.notify(f'Queued "{job.name}"', type='positive')

    def toggle_running(self) -> None:
        if self.queue.running:
            self.queue.pause()
        else:
            self.queue.start()

    # ---- tokens -------------------------------------------------------------------------------------------
    def _show_tokens(self) -> None:
        self.tokens.clear()
        with self.tokens:
            for info in self.queue.store.tokens():
                with ui.row().classes('items-center gap-2').mark(f'token-{info.id}'):
                    ui.label(info.name)
                    ui.label(f'created {_when(info.created_at)}, last used {_when(info.last_used_at)}') \
                        .classes('text-xs opacity-80')
                    ui.button('Revoke', on_click=lambda i=info.id: self._revoke(i)) \
                        .props('flat dense no-caps color=negative').mark('token-revoke')

    def create_token(self) -> None:
        info, token = self.queue.store.create_token(self.token_name.value or '')
        self.token_name.value = ''
        self._show_tokens()
        with ui.dialog() as dialog, ui.card().mark('token-dialog'):
            ui.label(f'Token "{info.name}"').classes('text-subtitle1').props('role=heading aria-level=2')
            ui.label('Copy it now: it is shown only once (the app keeps only a hash).').classes('text-sm')
            ui.input(value=token).props('readonly').classes('w-96 max-w-full font-mono').mark('token-value')
            ui.button('Done', on_click=dialog.close)
        dialog.open()

    def _revoke(self, token_id: int) -> None:
        self._do(lambda: self.queue.store.revoke_token(token_id))
        self._show_tokens()


def job_queue_panel(ctx: TabContext) -> JobQueuePanel:
    return JobQueuePanel(ctx, get_job_queue())
