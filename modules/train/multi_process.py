"""A multi-process run started from one process (the app or the CLI with `multi_gpu` on).

Rank 0 trains in the calling process, with its callbacks and commands, so the UI follows it as any
run; ranks 1 … N-1 are child processes running the headless trainer on the same config. If a
child dies, the next collective on rank 0 fails and the run ends with the child's last words; if
rank 0 fails or stops, the children end with it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .distributed import World, join, leave, rank_device

STOP_WAIT = 60.0  # seconds a child gets to end on its own before it is killed


def _private_json(path: Path, data) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MultiProcessTrainer:
    """The trainer interface (start, train, end) over `processes` ranks."""

    def __init__(self, config, family, callbacks=None, commands=None, *, processes: int):
        self.config = config
        self.family = family
        self.callbacks = callbacks
        self.commands = commands
        self.world = World(0, processes)
        self.inner = None
        self.workers: list[subprocess.Popen] = []
        self.folder = Path(tempfile.mkdtemp(prefix="ot-ranks-"))
        self.init_method = f"tcp://127.0.0.1:{_free_port()}"
        self._parent_threads = torch.get_num_threads()

    def __getattr__(self, name):  # progress, warnings ... of rank 0's trainer once it exists
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def start(self) -> None:
        from .trainer import GenericTrainer

        # the children need the whole config, secrets included: the files are the owner's alone
        for_workers = self.config.copy()
        for_workers.samples = []  # only rank 0 samples (a missing sample file must not stop the others)
        config_path = _private_json(self.folder / "config.json", for_workers.to_pack_dict(secrets=False))
        secrets_path = _private_json(self.folder / "secrets.json", self.config.secrets.to_dict())
        for rank in range(1, self.world.size):
            log = (self.folder / f"rank-{rank}.log").open("w")
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path),
                 "--secrets-path", str(secrets_path), "--rank", str(rank), "--world-size", str(self.world.size),
                 "--init-method", self.init_method, "--torch-threads", str(self._threads())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            log.close()
        torch.set_num_threads(self._threads())
        join(self.world, rank_device(self.config, self.world), self.init_method, waiting=self._children_alive)
        self.inner = GenericTrainer(self.config, self.family, self.callbacks, self.commands)
        self._explained(self.inner.start)

    def train(self) -> None:
        self._explained(self.inner.train)

    def end(self) -> None:
        try:
            if self.inner is not None:
                self.inner.end()
        finally:
            leave()  # closes the connections: a child still waiting in a collective ends too
            self._stop_workers()
            torch.set_num_threads(self._parent_threads)
            shutil.rmtree(self.folder, ignore_errors=True)

    def _explained(self, phase) -> None:
        """A failure caused by a dead child names the child and what it said last."""
        try:
            phase()
        except Exception as exc:
            dead = self._dead_worker()
            if dead is None:
                raise
            raise RuntimeError(f"rank {dead[0]} stopped: {dead[1]}") from exc

    def _threads(self) -> int:
        """torch threads per process: on the CPU the processes share the cores (more threads than cores
        makes every collective wait on a descheduled thread); on GPUs each keeps the caller's count."""
        if str(self.config.train_device or "cpu").startswith("cuda"):
            return self._parent_threads
        return max(1, (os.cpu_count() or 1) // self.world.size)

    def _children_alive(self) -> None:
        for rank, worker in enumerate(self.workers, start=1):
            if worker.poll() is not None:
                raise RuntimeError(f"rank {rank} stopped before the run began: "
                                   f"{self._last_words(rank, worker.returncode)}")

    def _dead_worker(self) -> tuple[int, str] | None:
        for rank, worker in enumerate(self.workers, start=1):
            try:
                worker.wait(timeout=5 if worker.poll() is None else 0)
            except subprocess.TimeoutExpired:
                continue
            if worker.returncode != 0:
                return rank, self._last_words(rank, worker.returncode)
        return None

    def _last_words(self, rank: int, code: int) -> str:
        """The last exception the child printed, else how it ended."""
        try:
            text = (self.folder / f"rank-{rank}.log").read_text(errors="replace")
        except OSError:
            text = ""
        raised = re.findall(r"^(?:[\w.]+(?:Error|Exception)|error): .*$", text, flags=re.MULTILINE)
        if raised:
            return raised[-1].strip()
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _stop_workers(self) -> None:
        for worker in self.workers:
            try:
                worker.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
