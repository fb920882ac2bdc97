"""Training on several processes with torch.distributed (one process per GPU; gloo on CPU).

Each rank trains on its own share of every global batch (`batch_size` is per process, so the global
batch is `batch_size × world size`); gradients are mean-reduced before every optimizer step, so all
ranks keep the same weights. Rank 0 alone logs, samples, validates, backs up and saves. A step
with W ranks sees the same data, noise seeds and update as W accumulated micro-batches of one
process: rank r trains the global batch list's entries r, r+W, r+2W ... and seeds step s with
s·W + r.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import torch
import torch.distributed as dist

from modules.config.enums import GradientReducePrecision
from modules.optim.stochastic_rounding import copy_stochastic_

# a collective waits this long for a peer (sampling or saving on rank 0 can take a while)
TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    # ---- collectives (no-ops for a single process) ------------------------------------------------------
    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block first (filling caches, clearing folders), then the others."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (a stop asked on rank 0 stops all at the same step)."""
        if not self.active:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, value: float) -> float:
        if not self.active:
            return value
        total = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(total)
        return float(total.item()) / self.size

    def seed(self, step: int) -> int:
        """The generator seed of this rank's batch at `step`."""
        return step * self.size + self.rank


def current_world() -> World:
    """This process's place in the process group (a single process when none is set up)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched_world() -> World | None:
    """The rank and size a launcher such as torchrun gave this process (None when it did not)."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return None
    return World(int(os.environ.get("RANK", "0")), size)


def backend_for(device: str) -> str:
    return "nccl" if str(device).startswith("cuda") and dist.is_nccl_available() else "gloo"


def join(world: World, device: str, init_method: str = "env://", waiting: Callable[[], None] | None = None) -> None:
    """Set up the process group of `world` (once per process). With a `tcp://` address rank 0 waits
    for the others itself, calling `waiting` meanwhile, which may raise to give up (a child that
    died before it arrived must not leave rank 0 waiting for a day)."""
    if dist.is_initialized():
        return
    backend = backend_for(device)
    if not init_method.startswith("tcp://"):
        dist.init_process_group(backend, init_method=init_method, rank=world.rank, world_size=world.size,
                                timeout=TIMEOUT)
        return
    address = urlsplit(init_method)
    store = dist.TCPStore(address.hostname, address.port, world.size, is_master=world.is_main, timeout=TIMEOUT,
                          wait_for_workers=False)
    if world.is_main:
        arrivals = [f"arrived/{rank}" for rank in range(1, world.size)]
        while not store.check(arrivals):
            if waiting is not None:
                waiting()
            time.sleep(0.2)
    else:
        store.set(f"arrived/{world.rank}", "1")
    dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size, timeout=TIMEOUT)


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_indexes(config) -> list[int]:
    """The GPUs (or, on the CPU, the process slots) of a multi-process run: `device_indexes`, else
    every visible CUDA device."""
    text = str(config.device_indexes or "").strip()
    if text:
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise ValueError(f"device_indexes must be comma-separated numbers, got {text!r}") from None
    return list(range(torch.cuda.device_count()))


def rank_device(config, world: World) -> str:
    """The device of this rank: the rank's entry of `device_indexes` on CUDA, the CPU otherwise."""
    device = str(config.train_device or "cpu")
    if not world.active or not device.startswith("cuda"):
        return device
    indexes = device_indexes(config) or list(range(world.size))
    return f"cuda:{indexes[world.rank % len(indexes)]}"


class GradientReducer:
    """Mean-reduces the gradients of `parameters` over the ranks, one flat buffer per dtype (few large
    messages instead of one per tensor), in the precision `gradient_reduce_precision` asks for."""

    def __init__(self, parameters, world: World, precision):
        self.parameters = list(parameters)
        self.world = world
        self.precision = GradientReducePrecision(precision)

    def reduce(self) -> None:
        if not self.world.active:
            return
        grads = [p.grad for p in self.parameters if p.grad is not None]
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for grad in grads:
            by_dtype.setdefault(grad.dtype, []).append(grad)
        for dtype, group in by_dtype.items():
            wire = torch.float32 if self.precision in (GradientReducePrecision.FLOAT_32,
                                                       GradientReducePrecision.FLOAT_32_STOCHASTIC) else dtype
            flat = torch.cat([g.reshape(-1).to(wire) for g in group])
            dist.all_reduce(flat)
            flat.div_(self.world.size)
            stochastic = self.precision.name.endswith("STOCHASTIC") and dtype == torch.bfloat16 and wire != dtype
            offset = 0
            for grad in group:
                part = flat[offset:offset + grad.numel()].view_as(grad)
                if stochastic:
                    copy_stochastic_(grad, part)
                else:
                    grad.copy_(part)
                offset += grad.numel()

