"""What a long tool operation reports to and is steered by: progress, a log, cancellation.

A tool function takes a `ToolTask` and calls `task.step(done, total)` as it goes, `task.log(text)`
for each thing worth telling, and `task.check()` between items (raises `ToolCancelled` once cancel
was asked). Bad input raises `ToolError` with a one-line message meant for the user; it must be
raised before any file is changed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class ToolError(Exception):
    """Bad input or a failure the user can act on; the message is shown as it is."""


class ToolCancelled(Exception):
    """The user cancelled; what was finished stays, nothing is half-written."""


def _print(text: str) -> None:
    print(text, flush=True)


@dataclass
class ToolTask:
    on_progress: Callable[[int, int], None] = lambda done, total: None
    on_log: Callable[[str], None] = _print
    cancelled: threading.Event = field(default_factory=threading.Event)

    def step(self, done: int, total: int) -> None:
        self.on_progress(done, total)

    def log(self, text: str) -> None:
        self.on_log(text)

    def cancel(self) -> None:
        self.cancelled.set()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise ToolCancelled('cancelled')
