"""The two files through which a remote run talks to the local side (no SSH here: this runs on the
remote machine, inside the headless trainer).

- the event file (`--callback-path`): one JSON object a line for each callback (progress, status,
  samples, scalars, errors); the local side reads the lines it has not seen yet.
- the command file (`--command-path`): one JSON object a line ({"command": "stop"} ...) appended by
  the local side; a thread of the trainer's process polls it and sets the trainer's commands.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any

POLL_SECONDS = 0.5


class EventWriter:
    def __init__(self, path: str | os.PathLike):
        self._lock = threading.Lock()
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run

    def write(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._handle.write(json.dumps(event) + "\n")
            self._handle.flush()

    def callbacks(self, **also):
        """TrainCallbacks that write every event and then call the listener of the same name in `also`."""
        from modules.train import TrainCallbacks

        def progress(p, max_step, max_epoch):
            self.write({"type": "progress", "epoch": p.epoch, "epoch_step": p.epoch_step, "epoch_sample": p.epoch_sample,
                        "global_step": p.global_step, "max_step": max_step, "max_epoch": max_epoch})

        def sample(custom):
            return lambda output: self.write({"type": "sample", "custom": custom, "path": output.path,
                                              "file_type": output.file_type, "prompt": output.prompt,
                                              "sample_index": output.sample_index})

        mine = {
            "on_update_train_progress": progress,
            "on_update_status": lambda text: self.write({"type": "status", "text": str(text)}),
            "on_sample_default": sample(False),
            "on_sample_custom": sample(True),
            "on_update_sample_default_progress": lambda s, m: self.write({"type": "sample_progress", "step": s, "max_step": m}),
            "on_update_sample_custom_progress": lambda s, m: self.write({"type": "sample_progress", "step": s, "max_step": m}),
            "on_scalar": lambda e: self.write({"type": "scalar", "tag": e.tag, "step": e.step, "value": e.value}),
            "on_error": lambda exc: self.write({"type": "error", "text": f"{type(exc).__name__}: {exc}"}),
        }

        def both(name, fn):
            other = also.get(name)
            if other is None:
                return fn
            return lambda *args: (fn(*args), other(*args))

        return TrainCallbacks(**{name: both(name, fn) for name, fn in mine.items()})


def apply_command(entry: dict[str, Any], commands) -> None:
    kind = entry.get("command")
    if kind == "stop":
        commands.stop()
    elif kind == "sample_default":
        commands.sample_default()
    elif kind == "sample_custom":
        from modules.config.sample_config import SampleConfig

        commands.sample_custom(SampleConfig.default_values().from_dict(entry.get("sample") or {}))
    elif kind == "backup":
        commands.backup()
    elif kind == "save":
        commands.save()


def watch_commands(path: str | os.PathLike, commands, stopped: threading.Event | None = None) -> threading.Thread:
    """A daemon thread applying the lines appended to `path` (created empty when missing)."""
    stopped = stopped or threading.Event()
    open(path, "a").close()

    def poll():
        offset = 0
        while not stopped.wait(POLL_SECONDS):
            with open(path, "rb") as handle:
                handle.seek(offset)
                entries, used = complete_lines(handle.read())  # a line still being written waits
            offset += used
            for entry in entries:
                try:
                    apply_command(entry, commands)
                except (ValueError, AttributeError, TypeError):
                    continue  # a damaged line must not end the run

    thread = threading.Thread(target=poll, name="command-file", daemon=True)
    thread.start()
    return thread


def complete_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The events of the complete lines of `data` and how many bytes they took."""
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, end
