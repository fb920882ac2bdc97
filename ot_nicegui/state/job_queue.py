"""Runs queued jobs one after another on the process's training session.

The queue takes the next queued job whenever the trainer is free and the queue is running, so a
run started by hand finishes first and the queue goes on after it. Each job's outcome is written to
the store as soon as the session reports the end of its run.
"""
from __future__ import annotations

import logging
from pathlib import Path

from modules.config.base import ConfigError
from modules.config.train_config import TrainConfig

from .job_store import Job, JobError, JobState, JobStore
from .run_events import Outcome
from .training_session import StartRefused, TrainingSession, Update

log = logging.getLogger(__name__)

_ENDED_AS = {Outcome.FINISHED: JobState.DONE, Outcome.STOPPED: JobState.STOPPED, Outcome.FAILED: JobState.FAILED}


class JobQueue:
    def __init__(self, store: JobStore, session: TrainingSession, data_dir: str | Path):
        from nicegui import Event

        self.store = store
        self.session = session
        self.data_dir = Path(data_dir)
        self.running = False  # take the next queued job whenever the trainer is free
        self.current: int | None = None  # the job whose run is going
        self.changed: Event[None] = Event()  # the list, a state or `running` changed
        self.interrupted = store.recover()
        session.updated.subscribe(self._on_update, unsubscribe_on_delete=False)

    # ---- what the UI and the API ask for --------------------------------------------------------------
    def add(self, config: dict, name: str = '') -> Job:
        _train_config(config)  # refuse what is not a config at all before it is stored
        job = self.store.add(config, name)
        self._changed()
        self._advance()
        return job

    def remove(self, job_id: int) -> None:
        self.store.remove(job_id)
        self._changed()

    def move(self, job_id: int, position: int) -> None:
        self.store.move(job_id, position)
        self._changed()

    def resume(self, job_id: int) -> Job:
        """Queue a stopped, failed or interrupted job again, continuing from its last backup."""
        job = self.store.requeue(job_id, resume=True)
        self._changed()
        self._advance()
        return job

    def start(self) -> None:
        """Run the queue: the next job starts now if the trainer is free."""
        self.running = True
        self._changed()
        self._advance()

    def pause(self) -> None:
        """Take no further job; a running one goes on."""
        self.running = False
        self._changed()

    def run_now(self, job_id: int) -> Job:
        """Start this queued job at once (the trainer must be free)."""
        job = self.store.get(job_id)
        if job.state != JobState.QUEUED:
            raise JobError(f'job {job_id} ({job.name}) is {job.state.value}, not queued')
        if self.session.busy:
            raise JobError('a run is going: stop it first or wait for it to end')
        self._start(job)
        return self.store.get(job_id)

    def stop(self, job_id: int) -> None:
        if self.current != int(job_id):
            raise JobError(f'job {job_id} is not running')
        self.session.stop()

    # ---- running ------------------------------------------------------------------------------------------
    def _advance(self) -> None:
        while self.running and not self.session.busy:
            job = self.store.next_queued()
            if job is None:
                return
            self._start(job)

    def _start(self, job: Job) -> None:
        try:
            config = _train_config(job.config)
            if job.resume:
                config.continue_last_backup = True
            self.session.start(config, base_dir=self.data_dir)
        except (StartRefused, ConfigError, JobError) as exc:
            self.store.mark_finished(job.id, JobState.FAILED, _refusal(exc))
            log.warning('job %s (%s) could not start: %s', job.id, job.name, _refusal(exc))
        else:
            self.store.mark_running(job.id)
            self.current = job.id
        self._changed()

    def _on_update(self, update: Update) -> None:
        if update.ended is None or self.current is None:
            return
        summary = update.ended
        outcome = summary.outcome or Outcome.FAILED
        self.store.mark_finished(self.current, _ENDED_AS[outcome], summary.error)
        self.current = None
        self._changed()
        self._advance()

    def _changed(self) -> None:
        self.changed.emit()


def _train_config(data: dict) -> TrainConfig:
    if not isinstance(data, dict):
        raise JobError('a job needs a config object', 'invalid')
    if data.get('concepts') is None:
        raise JobError('the config must hold its concepts (an exported config, with concepts inlined)', 'invalid')
    config = TrainConfig.default_values().from_dict(data)
    if config.load_warnings:  # a job runs unattended: a value it could not use must not be replaced silently
        raise JobError('the config has values that cannot be used: '
                       + '; '.join(f'{w.path}: {w.value!r} ({w.reason})' for w in config.load_warnings), 'invalid')
    return config


def _refusal(exc: Exception) -> str:
    from modules.config.validation import errors

    details = '; '.join(f'{p.path}: {p.message}' for p in errors(getattr(exc, 'problems', None) or []))
    text = str(exc)
    return f'{text}: {details}' if details else text


_QUEUE: JobQueue | None = None


def install_queue(data_dir: str | Path) -> JobQueue:
    """The process's queue, kept in `data_dir` (called by the app's setup; a second setup, as in
    tests, replaces the first)."""
    from .training_session import get_training_session

    global _QUEUE
    if _QUEUE is not None:
        _QUEUE.session.updated.unsubscribe(_QUEUE._on_update)
        _QUEUE.store.close()
    _QUEUE = JobQueue(JobStore.in_data_dir(data_dir), get_training_session(), data_dir)
    return _QUEUE


def get_job_queue() -> JobQueue:
    if _QUEUE is None:
        raise RuntimeError('the job queue is installed by the app setup')
    return _QUEUE
