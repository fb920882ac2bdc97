"""The profiling dialog: this process's CPU and memory use, and a dump of every thread's stack."""
from __future__ import annotations

import sys
import threading
import time
import traceback

import psutil
from nicegui import ui

from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession


def process_usage(process: psutil.Process) -> dict[str, float]:
    """CPU (percent of one core since the last call), memory and thread count of a process."""
    with process.oneshot():
        memory = process.memory_info()
        return {'cpu_percent': process.cpu_percent(interval=None), 'rss_mb': memory.rss / 2**20,
                'threads': process.num_threads(), 'system_memory_percent': psutil.virtual_memory().percent}


def thread_stacks() -> str:
    """The Python stack of every thread, newest frame last (what a hung training needs)."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = [f'Stacks of {len(names)} threads at {time.strftime("%Y-%m-%d %H:%M:%S")}\n']
    for ident, frame in sys._current_frames().items():
        parts.append(f'--- {names.get(ident, "unknown thread")} (id {ident})\n')
        parts.append(''.join(traceback.format_stack(frame)))
    return '\n'.join(parts)


def open_profiling_dialog(session: ConfigSession) -> ui.dialog:
    process = psutil.Process()
    process.cpu_percent(interval=None)  # the first reading only starts the measurement
    with dialog_frame('Profiling', 'profiling-dialog', width='860px') as dialog:
        with ui.grid(columns='auto auto').classes('gap-x-6 gap-y-0'):
            labels = {}
            for key, title in (('cpu_percent', 'CPU (% of one core)'), ('rss_mb', 'Memory (MiB)'),
                               ('threads', 'Threads'), ('system_memory_percent', 'Machine memory used (%)')):
                ui.label(title)
                labels[key] = ui.label('…').mark(f'profiling-{key}')

        def refresh() -> None:
            for key, value in process_usage(process).items():
                labels[key].set_text(f'{value:.1f}' if isinstance(value, float) else str(value))

        refresh()
        ui.timer(1.0, refresh)
        stacks = ui.code('', language='text').classes('w-full').style('max-height: 50vh; overflow: auto') \
            .mark('profiling-stacks')
        stacks.set_visibility(False)

        def dump() -> None:
            stacks.set_content(thread_stacks())
            stacks.set_visibility(True)

        with ui.row():
            ui.button('Dump stacks', icon='list', on_click=dump).mark('profiling-dump')
            ui.button('Download', icon='download',
                      on_click=lambda: ui.download.content(stacks.content or thread_stacks(), 'stacks.txt')) \
                .props('flat').mark('profiling-download')
    return dialog
