"""Durable, atomic writes of small text files by one background thread, so the caller keeps computing.

The caller hands over one batch of `(path, text)` at a time. The queue holds at most `depth` batches:
memory stays bounded, and a disk slower than the caller slows the caller down instead of piling up
work. Each file goes to a temporary file in its own folder, is fsynced and renamed over its target
(each folder is fsynced once per batch), so a reader, a crash or a cancel finds the old file or the
new one, never part of either. The first failed write stops the writing; its error is raised in the
caller at the next `put` or at `close`, and what was queued after it is dropped.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from pathlib import Path

from modules.config.files import atomic_write_text, fsync_folder
from modules.tools.task import ToolError


def write_text_atomic(path: Path, text: str) -> None:
    """Write one file durably: a temporary file in its folder, fsynced, then renamed over `path`
    (the folder itself is synced once for many files, by `fsync_folder`)."""
    try:
        atomic_write_text(path, text, sync_folder=False)
    except OSError as exc:
        raise ToolError(f'cannot write {path}: {exc.strerror or exc}') from exc


_STOP = None


class BackgroundWriter:
    """`with BackgroundWriter() as writer: writer.put(files)`; leaving the block waits until every
    file handed over is on disk (also when the block ends by an exception such as a cancel)."""

    def __init__(self, threads: int = 4, depth: int = 32):
        self._queue: queue.Queue[tuple[Path, str] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._folders: set[Path] = set()
        self._threads = [threading.Thread(target=self._work, name=f'background-writer-{i}', daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def put(self, files: Iterable[tuple[Path, str]]) -> None:
        """Queue files to write (waits while `depth` files are queued); raises an earlier write's error."""
        for file in files:
            self._raise_failure()
            self._queue.put(file)
        self._raise_failure()

    def close(self) -> None:
        """Wait until every queued file is written and its folder synced; raises the first write's error."""
        if any(thread.is_alive() for thread in self._threads):
            for _ in self._threads:
                self._queue.put(_STOP)
            for thread in self._threads:
                thread.join()
            for folder in self._folders:
                fsync_folder(folder)
        self._raise_failure()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the exception that ended the block is the one to report
            pass

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while (file := self._queue.get()) is not _STOP:
            if self._error is not None:
                continue  # after a failure the rest is dropped, but still taken so `put` never blocks
            path, text = file
            try:
                write_text_atomic(path, text)
                self._folders.add(path.parent)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
