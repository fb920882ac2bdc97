"""Events that flow out of the trainer. A failing listener never breaks training."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import ScalarEvent

log = logging.getLogger(__name__)

_NAMES = (
    "on_update_train_progress",
    "on_update_status",
    "on_sample_default",
    "on_update_sample_default_progress",
    "on_sample_custom",
    "on_update_sample_custom_progress",
    "on_error",
    "on_scalar",
)


@dataclass
class SampleOutput:
    """A finished sample: `file_type` is "IMAGE" (`data` a PIL image) or "VIDEO" (`data` its frames as PIL
    images); `path` where it was written (a video's .mp4 file, or the folder of its numbered frames)."""

    file_type: str
    data: Any
    path: str | None = None
    sample_index: int | None = None
    prompt: str = ""


class TrainCallbacks:
    def __init__(self, **listeners: Callable[..., Any] | None):
        unknown = set(listeners) - set(_NAMES)
        if unknown:
            raise TypeError(f"unknown callbacks: {sorted(unknown)}")
        self._listeners: dict[str, Callable[..., Any] | None] = {n: listeners.get(n) for n in _NAMES}

    def set(self, name: str, fn: Callable[..., Any] | None) -> None:
        if name not in _NAMES:
            raise KeyError(name)
        self._listeners[name] = fn

    def listens(self, name: str) -> bool:
        """Whether a listener is set: an event nobody receives need not be built."""
        return self._listeners.get(name) is not None

    def _fire(self, name: str, *args: Any) -> None:
        fn = self._listeners.get(name)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:  # a listener's bug must not stop a training run
            log.exception("callback %s failed", name)

    def on_update_train_progress(self, progress, max_step: int, max_epoch: int) -> None:
        self._fire("on_update_train_progress", progress, max_step, max_epoch)

    def on_update_status(self, status: str) -> None:
        self._fire("on_update_status", status)

    def on_sample_default(self, output: SampleOutput) -> None:
        self._fire("on_sample_default", output)

    def on_update_sample_default_progress(self, step: int, max_step: int) -> None:
        self._fire("on_update_sample_default_progress", step, max_step)

    def on_sample_custom(self, output: SampleOutput) -> None:
        self._fire("on_sample_custom", output)

    def on_update_sample_custom_progress(self, step: int, max_step: int) -> None:
        self._fire("on_update_sample_custom_progress", step, max_step)

    # short alias used by UIs that show one progress bar for any sampling
    def on_update_sample_progress(self, step: int, max_step: int) -> None:
        self.on_update_sample_default_progress(step, max_step)

    def on_error(self, exc: BaseException) -> None:
        self._fire("on_error", exc)

    def on_scalar(self, event: ScalarEvent) -> None:
        """Every value the trainer logs to TensorBoard, as it is logged."""
        self._fire("on_scalar", event)


for _n in _NAMES:
    setattr(TrainCallbacks, "set_" + _n, lambda self, fn, _n=_n: self.set(_n, fn))
