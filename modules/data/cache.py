"""The on-disk cache of encoded samples.

Layout under cache_dir: ``image/<group-hash>/variation-<k>/<n>.pt`` and ``aggregate.pt``
(likewise ``text/...``). A variation is complete once its aggregate exists and was written for
the same inputs (file list, resolution settings, prompts) by the same producer (model, encoder
settings, weight dtypes).
"""

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch


def config_dict(obj) -> dict:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return obj
    return {k: config_dict(v) if hasattr(v, "__dict__") else v for k, v in vars(obj).items()}


def json_plain(value):
    """`value` as JSON reads it back: str enums become str, tuples lists. A fingerprint compares
    equal to itself after saving and loading, and loads with weights_only (which refuses enums)."""
    return json.loads(json.dumps(value))


def group_hash(concept, part: str) -> str:
    """SHA-256 of the compact, key-sorted JSON of the settings that shape a cached sample."""
    settings = concept.image if part == "image" else concept.text
    payload = [concept.path, concept.seed, concept.include_subdirectories, config_dict(settings)]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=4096)  # asked for every sample of every step: joining the path costs more than the look-up
def variation_dir(cache_dir, part: str, group: str, variation: int) -> Path:
    return Path(cache_dir) / part / group / f"variation-{variation}"


def clear_cache(cache_dir) -> None:
    """Remove the cached samples (image/, text/, epoch-*/) and keep anything else."""
    root = Path(cache_dir)
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and (child.name in ("image", "text") or child.name.startswith("epoch-")):
            shutil.rmtree(child)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_item(directory: Path, index: int, tensors: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_save(tensors, directory / f"{index}.pt")


def read_item(directory: Path, index: int) -> dict:
    return torch.load(directory / f"{index}.pt", map_location="cpu", weights_only=True)


def write_aggregate(directory: Path, fingerprint, items: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_save({"fingerprint": fingerprint, "items": items}, directory / "aggregate.pt")


def read_aggregate(directory: Path, fingerprint) -> list[dict] | None:
    """The per-sample items of a complete variation, or None if it must be (re)computed."""
    path = directory / "aggregate.pt"
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged aggregate only means the variation is recomputed
        return None
    if data.get("fingerprint") != fingerprint:
        return None
    return data["items"]
