"""Requests that flow into the trainer: set from any thread, polled by the training loop."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class TrainCommands:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = False
        self._sample_default = False
        self._sample_custom: list[Any] = []
        self._backup = False
        self._save = False
        self._on_command: Callable[[TrainCommands], None] | None = None

    def _changed(self) -> None:
        if self._on_command is not None:
            self._on_command(self)

    def set_on_command(self, fn: Callable[[TrainCommands], None] | None) -> None:
        self._on_command = fn

    def stop(self) -> None:
        with self._lock:
            self._stop = True
        self._changed()

    def sample_default(self) -> None:
        with self._lock:
            self._sample_default = True
        self._changed()

    def sample_custom(self, sample) -> None:
        with self._lock:
            self._sample_custom.append(sample)
        self._changed()

    def backup(self) -> None:
        with self._lock:
            self._backup = True
        self._changed()

    def save(self) -> None:
        with self._lock:
            self._save = True
        self._changed()

    def reset(self) -> None:
        """Clears everything but stop, which is sticky."""
        with self._lock:
            self._sample_default = False
            self._sample_custom = []
            self._backup = False
            self._save = False

    def merge(self, other: TrainCommands) -> None:
        with other._lock:
            stop, default, custom = other._stop, other._sample_default, list(other._sample_custom)
            backup, save = other._backup, other._save
        if stop:
            self.stop()
        if default:
            self.sample_default()
        for sample in custom:
            self.sample_custom(sample)
        if backup:
            self.backup()
        if save:
            self.save()

    def get_stop_command(self) -> bool:
        with self._lock:
            return self._stop

    def get_and_reset_sample_default_command(self) -> bool:
        with self._lock:
            value, self._sample_default = self._sample_default, False
            return value

    def get_and_reset_sample_custom_commands(self) -> list:
        with self._lock:
            value, self._sample_custom = self._sample_custom, []
            return value

    def get_and_reset_backup_command(self) -> bool:
        with self._lock:
            value, self._backup = self._backup, False
            return value

    def get_and_reset_save_command(self) -> bool:
        with self._lock:
            value, self._save = self._save, False
            return value
