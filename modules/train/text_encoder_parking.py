"""Text encoders off the train device while training reads cached text encodings.

With text caching on and nothing of a text encoder trained, the encoders only fill the cache; after
that they are idle until a sample is rendered, a model saved, or a later epoch needs a new text
variation. Parking frees their memory on the train device meanwhile:

- when the temp device differs from the train device (a GPU run), they move to the temp device
  (`temp_device`, CPU by default) and back when needed;
- on a CPU run (both devices the CPU) moving frees nothing, so their weights are written once to a
  file (they are frozen) and the modules' tensors give up their storage; they are read back from
  the file when needed;
- a GPU run whose temp device is the train device keeps them where they are, as asked.

Sampling keeps working because whoever needs the encoders calls `restore()` first (the trainer does
so around sampling, saving and encoding); parking again is the trainer's choice of moment. Weights
held by tensor subclasses (quantized encoders) are not written to a file: such encoders stay put on
a CPU run and are only moved between devices.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from itertools import chain
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters (tied ones once) and buffers, persistent or not, by name."""
    return dict(chain(module.named_parameters(), module.named_buffers()))


def tensor_bytes(modules: dict[str, torch.nn.Module]) -> int:
    return sum(t.nelement() * t.element_size() for m in modules.values() for t in _tensors(m).values())


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index == b.index or a.index is None or b.index is None)


def _plain(module: torch.nn.Module) -> bool:
    return all(type(t.data) is torch.Tensor for t in _tensors(module).values())


def describe_bytes(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


class TextEncoderParking:
    """Parks and restores a set of frozen text encoders (see the module text)."""

    def __init__(self, modules: dict[str, torch.nn.Module], train_device, temp_device, spill_root: str | Path):
        self.modules = dict(modules)
        self.train_device = torch.device(train_device)
        self.temp_device = torch.device(temp_device or "cpu")
        self.moves = not _same_device(self.train_device, self.temp_device)
        self.spill_root = Path(spill_root)
        self.bytes = tensor_bytes(self.modules)
        self.parked: dict[str, str] = {}  # part -> "moved" | "spilled"
        self.staying: set[str] = set()  # parts that cannot be parked (not tried again)
        self._files: dict[str, Path] = {}
        self._spill_dir: Path | None = None

    def park(self) -> int:
        """Park every encoder not parked yet; the bytes this freed on the train device."""
        freed = 0
        for part, module in self.modules.items():
            if part in self.parked or part in self.staying:
                continue
            size = tensor_bytes({part: module})
            try:
                if self.moves:
                    how = self._move(module)
                else:
                    how = self._spill(part, module) if self.train_device.type == "cpu" else None
            except (RuntimeError, NotImplementedError, OSError) as exc:  # e.g. a quantized layout that cannot move
                log.info("text encoder %s stays on %s: %s", part, self.train_device, exc)
                how = None
            if how is None:
                self.staying.add(part)
            else:
                self.parked[part] = how
                freed += size
        if freed and self.train_device.type == "cuda":
            torch.cuda.empty_cache()
        return freed

    def restore(self) -> None:
        """Every parked encoder back on the train device, as it was."""
        for part in list(self.parked):
            module = self.modules[part]
            if self.parked.pop(part) == "moved":
                module.to(self.train_device)
            else:
                self._read_back(part, module)

    def close(self) -> None:
        """Restore the encoders and remove the spill files."""
        self.restore()
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None
            self._files.clear()

    # ------------------------------------------------------------------ the two ways
    def _move(self, module: torch.nn.Module) -> str:
        try:
            module.to(self.temp_device)
        except Exception:
            module.to(self.train_device)  # never leave an encoder split between devices
            raise
        return "moved"

    def _spill(self, part: str, module: torch.nn.Module) -> str | None:
        if not _plain(module):
            return None  # tensor subclasses (quantized weights) do not round-trip through a file
        if part not in self._files:  # frozen weights: written once
            if self._spill_dir is None:
                self.spill_root.mkdir(parents=True, exist_ok=True)
                self._spill_dir = Path(tempfile.mkdtemp(prefix="parked-text-encoders-", dir=self.spill_root))
            path = self._spill_dir / f"{part}.pt"
            torch.save({name: t.detach() for name, t in _tensors(module).items()}, path)
            self._files[part] = path
        # the tensor objects stay (tied weights stay tied, hooks and references stay valid); only
        # their storage goes: an empty one of the same dtype
        for tensor in _tensors(module).values():
            tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
        return "spilled"

    @torch.no_grad()
    def _read_back(self, part: str, module: torch.nn.Module) -> None:
        saved = torch.load(self._files[part], map_location="cpu", mmap=True, weights_only=True)
        for name, tensor in _tensors(module).items():
            # on the CPU the file's mapping serves as the storage (pages are read when used, a private
            # mapping: writes stay in memory, and it outlives the file's removal)
            tensor.data = saved[name] if self.train_device.type == "cpu" else saved[name].to(self.train_device)
