"""What crosses from the training thread to the UI's relay: the trainer's own event records
(`modules.train.events`), plus the two moments only the session's thread sees (the trainer has
started, the run has ended), each tagged with its run and the trainer-side time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from modules.train.events import ProgressEvent, SampleEvent, SampleProgressEvent, ScalarEvent, StatusEvent


class Outcome(StrEnum):
    FINISHED = 'finished'
    STOPPED = 'stopped'
    FAILED = 'failed'


@dataclass(frozen=True)
class TrainerStarted:
    """The model is loaded: the run's commands can be used from now on."""


@dataclass(frozen=True)
class RunEnded:
    outcome: Outcome
    error: str = ''
    traceback: str = ''


TrainerEvent = (ScalarEvent | ProgressEvent | StatusEvent | SampleEvent | SampleProgressEvent
                | TrainerStarted | RunEnded)


@dataclass(frozen=True)
class RunEvent:
    """`event` of run `run_id`; `at` is when the training thread saw it (the speed figures use it,
    not the time the relay gets round to it)."""

    run_id: int
    event: TrainerEvent
    at: float = field(default_factory=time.monotonic)
