"""The one training run of this process, shared by every browser.

The trainer runs in a background thread on a deep copy of the config. Its callbacks only put
small frozen records (`RunEvent`) on a thread-safe queue, so the trainer never waits on the UI. One asyncio relay task
drains the queue about ten times a second, folds everything that arrived into the session state
(progress, status, scalar history, samples, outcome) and emits one `Update` per tick; pages
subscribe to `updated` and build themselves from the state when they open, so reloaded pages and
new clients see the whole run so far.
"""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from modules.config.train_config import TrainConfig
from modules.train.events import ProgressEvent, SampleEvent, SampleProgressEvent, ScalarEvent, StatusEvent

from .run_events import Outcome, RunEnded, RunEvent, TrainerStarted

log = logging.getLogger(__name__)

RELAY_INTERVAL = 0.1  # seconds between relay ticks: ~10 updates a second, whatever the step rate
RATE_WINDOW = 30.0  # seconds of progress used for it/s


class Phase(StrEnum):
    IDLE = 'idle'
    STARTING = 'starting'
    RUNNING = 'running'
    STOPPING = 'stopping'


@dataclass
class Progress:
    epoch: int = 0
    epoch_step: int = 0
    global_step: int = 0
    max_step: int = 0
    max_epoch: int = 0
    it_per_second: float | None = None
    eta_seconds: float | None = None

    @property
    def epoch_fraction(self) -> float:
        return min(1.0, self.epoch / self.max_epoch) if self.max_epoch else 0.0

    @property
    def step_fraction(self) -> float:
        return min(1.0, self.epoch_step / self.max_step) if self.max_step else 0.0


@dataclass(frozen=True)
class SampleRecord:
    """A sample image of the run; `path` is relative to the workspace folder (POSIX)."""

    run_id: int
    step: int
    epoch: int
    prompt: str
    path: str
    index: int | None = None
    custom: bool = False


@dataclass
class RunSummary:
    run_id: int
    started_at: float
    model_type: str
    training_method: str
    base_model: str
    workspace_dir: str
    output: str
    epochs: int
    batch_size: int
    learning_rate: float | None
    optimizer: str
    ended_at: float | None = None
    device: str = ''  # the train device ('cpu', 'cuda' ...)
    outcome: Outcome | None = None
    error: str = ''
    traceback: str = ''

    @property
    def duration(self) -> float:
        return (self.ended_at or time.time()) - self.started_at


@dataclass
class Update:
    """What changed in one relay tick."""

    run_id: int
    reset: bool = False  # a new run began: charts and gallery start empty
    state: bool = False  # phase, status or progress changed
    scalars: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    samples: list[SampleRecord] = field(default_factory=list)
    ended: RunSummary | None = None  # the run ended during this tick


class StartRefused(Exception):
    """Start was refused: the config has errors, or a run is going."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []


# fields holding paths that a relative value resolves against the data folder for
_PATH_FIELDS = ('workspace_dir', 'cache_dir', 'output_model_destination')


def run_copy(config: TrainConfig, base_dir: str | os.PathLike | None) -> TrainConfig:
    """The config the trainer gets: a deep copy with the concept and sample lists inlined and
    relative paths resolved against the data folder (the trainer resolves against its cwd)."""
    from modules.config.files import load_concepts, load_samples

    cfg = config.copy()
    base = Path(base_dir) if base_dir is not None else None

    def resolved(path: str) -> str:
        if base is None or not path or os.path.isabs(path):
            return path
        return str(base / path)

    if cfg.concepts is None:
        cfg.concepts = load_concepts(resolved(cfg.concept_file_name))
    if cfg.samples is None:
        sample_file = resolved(cfg.sample_definition_file_name)
        cfg.samples = load_samples(sample_file, cfg.model_type) if os.path.isfile(sample_file) else []
    for concept in cfg.concepts:
        concept.path = resolved(concept.path)
    for name in _PATH_FIELDS:
        setattr(cfg, name, resolved(getattr(cfg, name)))
    local_model = resolved(cfg.base_model_name)
    if local_model != cfg.base_model_name and os.path.exists(local_model):
        cfg.base_model_name = local_model
    return cfg


class TrainingSession:
    """Process-wide training state and controls."""

    def __init__(self) -> None:
        from nicegui import Event

        self.updated: Event[Update] = Event()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._commands = None
        self._relay_task: asyncio.Task | None = None
        self.phase = Phase.IDLE
        self.reset()

    def reset(self) -> None:
        """Forget the previous run (only while idle)."""
        if self.busy:
            raise RuntimeError('a run is going')
        self.run_id = 0
        self.phase = Phase.IDLE
        self.status = 'Ready'
        self.progress = Progress()
        self.sample_progress: tuple[int, int] | None = None
        self.scalars: dict[str, tuple[list[int], list[float]]] = {}
        self.samples: list[SampleRecord] = []
        self.summary: RunSummary | None = None
        self.workspace_root: Path | None = None
        self._rate: deque[tuple[float, int]] = deque()

    # ---- state -----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is going (its thread has not ended yet)."""
        return (self._thread is not None and self._thread.is_alive()) or self.phase != Phase.IDLE

    @property
    def last_outcome(self) -> Outcome | None:
        return self.summary.outcome if self.summary is not None else None

    # ---- controls --------------------------------------------------------------------------------
    def check(self, config: TrainConfig, base_dir: str | os.PathLike | None = None) -> list:
        """Every problem of `config` (errors block a start, warnings do not), a model type that
        cannot train included."""
        from modules.engine import check

        return check(config, base_dir=None if base_dir is None else str(base_dir))

    def start(self, config: TrainConfig, base_dir: str | os.PathLike | None = None, *, reattach: bool = False) -> list:
        """Check, then start the run in a background thread; returns the warnings. `reattach`: follow
        the cloud run already going on the remote machine (see modules.engine.create_trainer).

        Raises StartRefused (with `.problems`) when a run is going or the config has errors.
        """
        from modules.config.validation import errors
        from modules.train import TrainCommands

        if self.busy:
            raise StartRefused('a run is going already')
        problems = self.check(config, base_dir)
        if errors(problems):
            raise StartRefused('the configuration has errors', problems)
        try:
            cfg = run_copy(config, base_dir)
        except Exception as exc:  # noqa: BLE001 - an unreadable list file is a start problem, not a crash
            raise StartRefused(f'could not prepare the run: {exc}') from exc
        self.reset()
        self.run_id = int(time.time() * 1000)
        self.phase = Phase.STARTING
        self.status = 'Starting'
        self.workspace_root = Path(cfg.workspace_dir).resolve()
        self.summary = RunSummary(
            run_id=self.run_id, started_at=time.time(), model_type=cfg.model_type.label,
            training_method=cfg.training_method.label, base_model=cfg.base_model_name,
            workspace_dir=str(self.workspace_root), output=cfg.output_model_destination, epochs=int(cfg.epochs),
            batch_size=int(cfg.batch_size), learning_rate=cfg.learning_rate,
            optimizer=cfg.optimizer.optimizer.label, device=str(cfg.train_device or 'cpu'))
        self._commands = TrainCommands()
        self._thread = threading.Thread(target=self._run, args=(self.run_id, cfg, self._commands, reattach),
                                        name='training', daemon=True)
        self._thread.start()
        self.updated.emit(Update(self.run_id, reset=True, state=True))
        return problems  # warnings only: errors refused the start above

    def stop(self) -> None:
        if self._commands is None or self.phase not in (Phase.STARTING, Phase.RUNNING):
            return
        self._commands.stop()
        self.phase = Phase.STOPPING
        self.status = 'Stopping ...'
        self.updated.emit(Update(self.run_id, state=True))

    def _command(self, name: str, *args: Any) -> bool:
        if self._commands is None or self.phase != Phase.RUNNING:
            return False
        getattr(self._commands, name)(*args)
        return True

    def sample_now(self) -> bool:
        return self._command('sample_default')

    def sample_custom(self, sample) -> bool:
        return self._command('sample_custom', sample.copy())

    def backup_now(self) -> bool:
        return self._command('backup')

    def save_now(self) -> bool:
        return self._command('save')

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run's thread has ended; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ---- the training thread -----------------------------------------------------------------------
    def post(self, event: RunEvent) -> None:
        """Queue an event for the relay (thread-safe, never blocks)."""
        self._queue.put(event)

    def _run(self, run_id: int, config: TrainConfig, commands, reattach: bool = False) -> None:
        def post(event) -> None:
            self.post(RunEvent(run_id, event))

        def progress(p, max_step, max_epoch):  # copied now: the trainer keeps mutating its object
            post(ProgressEvent(p.epoch, p.epoch_step, p.global_step, max_step, max_epoch))

        def sample(custom: bool):
            def on_sample(output):
                post(SampleEvent(output.path, output.prompt, output.sample_index, custom))
            return on_sample

        def sample_progress(step, max_step):
            post(SampleProgressEvent(step, max_step))

        from modules.engine import create_trainer
        from modules.train import TrainCallbacks

        callbacks = TrainCallbacks(
            on_update_train_progress=progress,
            on_update_status=lambda text: post(StatusEvent(str(text))),
            on_sample_default=sample(False),
            on_sample_custom=sample(True),
            on_update_sample_default_progress=sample_progress,
            on_update_sample_custom_progress=sample_progress,
            on_scalar=post,
        )
        trainer = None
        outcome, error, trace = Outcome.FINISHED, '', ''
        try:
            trainer = create_trainer(config, callbacks, commands, **({'reattach': True} if reattach else {}))
            trainer.start()
            post(TrainerStarted())
            trainer.train()
        except Exception as exc:  # noqa: BLE001 - any failure ends the run, never the app
            outcome, error, trace = Outcome.FAILED, _describe(exc), traceback.format_exc()
        finally:
            if trainer is not None:
                try:
                    trainer.end()
                except Exception as exc:  # noqa: BLE001
                    if outcome != Outcome.FAILED:
                        outcome, error, trace = Outcome.FAILED, _describe(exc), traceback.format_exc()
            if outcome == Outcome.FINISHED and commands.get_stop_command():
                outcome = Outcome.STOPPED
            post(RunEnded(outcome, error, trace))

    # ---- the relay ---------------------------------------------------------------------------------
    def drain(self) -> Update | None:
        """Fold every queued event into the state; emits and returns one Update (None if nothing)."""
        update = Update(self.run_id)
        got = False
        while True:
            try:
                item: RunEvent = self._queue.get_nowait()
            except queue.Empty:
                break
            if item.run_id != self.run_id:
                continue  # left over from an earlier run
            got = True
            self._apply(item, update)
        if not got:
            return None
        self.updated.emit(update)
        return update

    def _apply(self, item: RunEvent, update: Update) -> None:
        match item.event:
            case ProgressEvent() as p:
                self._set_progress(item.at, p)
                self.sample_progress = None
                update.state = True
            case ScalarEvent(tag=tag, step=step, value=value):
                for target in (self.scalars, update.scalars):
                    steps, values = target.setdefault(tag, ([], []))
                    steps.append(step)
                    values.append(value)
            case StatusEvent(text=text):
                if self.phase != Phase.STOPPING:
                    self.status = text
                update.state = True
            case SampleProgressEvent(step=step, max_step=max_step):
                self.sample_progress = (int(step), int(max_step))
                update.state = True
            case SampleEvent() as sample:
                record = self._sample_record(sample)
                if record is not None:
                    self.samples.append(record)
                    update.samples.append(record)
            case TrainerStarted():
                if self.phase == Phase.STARTING:
                    self.phase = Phase.RUNNING
                update.state = True
            case RunEnded() as ended:
                self._end(ended)
                update.ended = self.summary
                update.state = True

    def _set_progress(self, when: float, event: ProgressEvent) -> None:
        p = self.progress
        p.epoch, p.epoch_step, p.global_step, p.max_step, p.max_epoch = \
            event.epoch, event.epoch_step, event.global_step, event.max_step, event.max_epoch
        rate = self._rate
        rate.append((when, p.global_step))
        while len(rate) > 2 and when - rate[0][0] > RATE_WINDOW:
            rate.popleft()
        (t0, s0), (t1, s1) = rate[0], rate[-1]
        if t1 > t0 and s1 > s0:
            p.it_per_second = (s1 - s0) / (t1 - t0)
            remaining = max(0, (p.max_epoch - p.epoch) * p.max_step - p.epoch_step)
            p.eta_seconds = remaining / p.it_per_second
        if p.epoch >= p.max_epoch and p.max_epoch:
            p.eta_seconds = 0.0

    def _sample_record(self, sample: SampleEvent) -> SampleRecord | None:
        if not sample.path or self.workspace_root is None:
            return None
        try:
            relative = Path(sample.path).resolve().relative_to(self.workspace_root).as_posix()
        except ValueError:
            return None  # only files inside the workspace can be served
        return SampleRecord(self.run_id, self.progress.global_step, self.progress.epoch, sample.prompt or '',
                            relative, sample.sample_index, sample.custom)

    def _end(self, ended: RunEnded) -> None:
        self.phase = Phase.IDLE
        self.sample_progress = None
        self.progress.eta_seconds = None
        if self.summary is not None:
            self.summary.ended_at = time.time()
            self.summary.outcome = ended.outcome
            self.summary.error = ended.error
            self.summary.traceback = ended.traceback
        self.status = {Outcome.FINISHED: 'Finished', Outcome.STOPPED: 'Stopped'}.get(ended.outcome,
                                                                                      f'Failed: {ended.error}')
        if ended.outcome == Outcome.FAILED:
            log.error('training failed: %s\n%s', ended.error, ended.traceback)

    async def relay(self) -> None:
        """Runs for the life of the app: one drain per tick."""
        while True:
            await asyncio.sleep(RELAY_INTERVAL)
            try:
                self.drain()
            except Exception:  # a broken event must not end the relay
                log.exception('training relay failed')

    def start_relay(self) -> None:
        from nicegui import background_tasks

        if self._relay_task is None or self._relay_task.done():
            self._relay_task = background_tasks.create(self.relay(), name='training relay')

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop a run on app shutdown and give it time to save."""
        if self._commands is not None and self.busy:
            self._commands.stop()
            self.wait(timeout)
        self._relay_task = None


def _describe(exc: BaseException) -> str:
    # what the toast, the status line and the Run tab say; the traceback keeps the exception's type
    from ot_nicegui.messages import plain_error

    return plain_error(exc)


_SESSION: TrainingSession | None = None


def get_training_session() -> TrainingSession:
    """The process-wide training session (created on first use)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = TrainingSession()
    return _SESSION


FILES_ROUTE = '/run-files'


def file_url(record: SampleRecord) -> str:
    from urllib.parse import quote

    return f'{FILES_ROUTE}/{quote(record.path)}?run={record.run_id}'


def install(config_session=None) -> None:
    """Hook the session into the app: relay and monitor live as long as the app, and the run's
    workspace files (sample images) are served at FILES_ROUTE, never anything outside it.

    Call it from the app's setup (NiceGUI forgets registrations between test runs).
    """
    from nicegui import app

    from ot_nicegui.security import add_file_route

    from .system_monitor import get_monitor

    session = get_training_session()
    monitor = get_monitor()

    def startup() -> None:
        session.start_relay()
        monitor.start()

    def shutdown() -> None:
        from ot_nicegui.tb_reader import stop_server

        monitor.stop()
        stop_server()
        session.shutdown()

    def workspace_root() -> Path:
        if session.workspace_root is not None:
            return session.workspace_root
        if config_session is not None:
            return Path(config_session.data_dir) / config_session.config.workspace_dir
        return Path(TrainConfig.default_values().workspace_dir)

    app.on_startup(startup)
    app.on_shutdown(shutdown)
    add_file_route(FILES_ROUTE, workspace_root)
