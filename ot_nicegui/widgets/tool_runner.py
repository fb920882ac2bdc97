"""A tool's progress bar, Cancel button and log; runs the tool off the event loop.

`ToolRunner.run(fn, *args, uses_gpu=...)` calls `fn(task, *args)` in a worker thread with a
`modules.tools.task.ToolTask`. Paths given as `paths=` and `models=` (field label -> value) must lie
inside the server's browse roots (`ot_nicegui.tool_paths`): otherwise the tool does not start. The
thread only puts progress and log lines on a queue; a timer on
the page shows them, so the page stays responsive. One GPU job at a time in this process, and a
training run on the GPU comes first: a tool that needs the GPU then refuses with a message.
"""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from nicegui import run, ui

from modules.tools.task import ToolCancelled, ToolError, ToolTask
from ot_nicegui.tool_paths import refused_path

log = logging.getLogger(__name__)

GPU_LOCK = threading.Lock()  # held by the tool that uses the GPU now


def gpu_busy_reason() -> str | None:
    """Why a tool cannot use the GPU now, or None."""
    from ot_nicegui.state.training_session import get_training_session

    session = get_training_session()
    if session.busy and session.summary is not None and not session.summary.device.startswith('cpu'):
        return 'a training run is using the GPU: tools that need it can run when it ends'
    if GPU_LOCK.locked():
        return 'another tool is using the GPU: try again when it has finished'
    return None


class ToolRunner:
    def __init__(self, name: str):
        self.name = name
        self.running = False
        self.task: ToolTask | None = None
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        with ui.column().classes('w-full gap-1').mark(f'tool-{name}-runner') as self.root:
            with ui.row().classes('w-full items-center gap-2 no-wrap'):
                self.bar = ui.linear_progress(value=0, show_value=False).classes('grow') \
                    .props(f'aria-label="{name} progress"').mark(f'tool-{name}-progress')
                self.cancel_button = ui.button('Cancel', icon='close', on_click=self.cancel) \
                    .props('flat dense no-caps').mark(f'tool-{name}-cancel')
                self.cancel_button.disable()
            self.status = ui.label('').classes('text-sm').props('role=status').mark(f'tool-{name}-status')
            self.log = ui.log(max_lines=500).classes('w-full h-40').mark(f'tool-{name}-log')
        self.timer = ui.timer(0.2, self._show, active=False)

    async def run(self, fn: Callable[..., Any], *args: Any, uses_gpu: bool = False,
                  paths: Mapping[str, str | list[str]] | None = None, models: Mapping[str, str] | None = None) -> Any:
        """The tool's result, or None when it was refused, cancelled or failed (the log says why)."""
        if self.running:
            ui.notify(f'{self.name} is running already', type='warning')
            return None
        refused = refused_path(paths, models)
        if refused is not None:
            self._refuse(refused)
            return None
        if uses_gpu:
            reason = gpu_busy_reason()
            if reason is not None or not GPU_LOCK.acquire(blocking=False):
                self._refuse(reason or 'another tool is using the GPU')
                return None
        self.running = True
        self.task = ToolTask(on_progress=lambda done, total: self._events.put(('progress', done, total)),
                             on_log=lambda text: self._events.put(('log', text)))
        self.bar.value = 0
        self.status.text = 'Running …'
        self.cancel_button.enable()
        self.timer.active = True
        try:
            result = await run.io_bound(fn, self.task, *args)
            self._events.put(('status', 'Done'))
            return result
        except ToolCancelled:
            self._events.put(('status', 'Cancelled: what was finished is kept'))
        except ToolError as exc:
            self._events.put(('status', f'Stopped: {exc}'))
            self._events.put(('log', f'Error: {exc}'))
        except Exception as exc:  # noqa: BLE001 - a failing tool is reported, never the page's end
            log.exception('%s failed', self.name)
            self._events.put(('status', f'Failed: {exc}'))
            self._events.put(('log', traceback.format_exc()))
        finally:
            self.running = False
            if uses_gpu:
                GPU_LOCK.release()
            self.cancel_button.disable()
            self._show()
            self.timer.active = False
        return None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.text = 'Cancelling after the current item …'

    def _refuse(self, message: str) -> None:
        self.status.text = f'Not started: {message}'
        self._line(f'Not started: {message}.')
        ui.notify(message[:1].upper() + message[1:], type='warning')

    def _line(self, text: str) -> None:
        self.log.push(text)

    def _show(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event[0] == 'progress':
                _, done, total = event
                self.bar.value = done / total if total else 0
                self.status.text = f'{done} / {total}'
            elif event[0] == 'log':
                self._line(event[1])
            else:
                self.status.text = event[1]
