"""Reading and writing safetensors files: atomic writes, header metadata, the model-spec hash."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

HASH_KEY = "modelspec.hash_sha256"


def tensor_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """`0x` + SHA-256 over the raw bytes of all tensors in key-sorted order (the model-spec hash)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        raw = tensors[key].detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(memoryview(raw.numpy()))
    return "0x" + digest.hexdigest()


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor],
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Write atomically (temp file in the same folder, fsync, rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {str(k): str(v) for k, v in (metadata or {}).items()}
    if any(k.startswith("modelspec.") for k in header):
        header[HASH_KEY] = tensor_hash(tensors)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header or None)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors, or a torch pickle (.ckpt/.pt/.bin) holding tensors, optionally under `state_dict`."""
    if str(path).endswith(".safetensors"):
        return read_safetensors(path)
    data = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    return dict(data), {}
