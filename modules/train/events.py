"""Small immutable records of what happens in a training run.

They cross from the training thread to whoever watches (the UI's relay, the CLI, tests), so they
hold plain values only: no tensors, no live objects.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalarEvent:
    """One logged value: a loss, a learning rate, an EMA decay ... `tag` may contain `/`."""

    tag: str
    step: int
    value: float


@dataclass(frozen=True)
class ProgressEvent:
    epoch: int
    epoch_step: int
    global_step: int
    max_step: int
    max_epoch: int


@dataclass(frozen=True)
class StatusEvent:
    text: str


@dataclass(frozen=True)
class SampleEvent:
    """A finished sample written to `path`."""

    path: str | None
    prompt: str
    sample_index: int | None
    custom: bool


@dataclass(frozen=True)
class SampleProgressEvent:
    step: int
    max_step: int
