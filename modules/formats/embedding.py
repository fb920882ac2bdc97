"""Textual-inversion embedding files, and embeddings bundled inside adapter files.

In memory, vectors are keyed by text-encoder part (`text_encoder`, `text_encoder_2`, ...); output-space
embeddings by the part name plus `_out`. Files use the family's names (SD 1/2 `emp_params`,
SDXL `clip_l` / `clip_g`, with `_out` variants), which diffusers' `load_textual_inversion` reads.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from modules.formats.keymap import FamilyKeymap, require_keymap
from modules.formats.safetensors_io import read_state_dict, write_safetensors

BUNDLE_PREFIX = "bundle_emb."
OUT = "_out"
# other tools' single-vector containers
_A1111_PARAMS = "string_to_param"
_A1111_SAFETENSORS_KEY = "emb_params"


class EmbeddingKeyError(KeyError):
    pass


def _split_out(key: str) -> tuple[str, str]:
    return (key[: -len(OUT)], OUT) if key.endswith(OUT) else (key, "")


def _file_key(vector_key: str, keymap: FamilyKeymap, attribute: str) -> str:
    base, out = _split_out(vector_key)
    for te in keymap.text_encoders:
        if base in (te.part, getattr(te, attribute)):
            return getattr(te, attribute) + out
    raise EmbeddingKeyError(f"{keymap.name} has no text encoder for embedding key {vector_key!r}")


def _part_key(file_key: str, keymap: FamilyKeymap, attribute: str) -> str | None:
    base, out = _split_out(file_key)
    for te in keymap.text_encoders:
        if base == getattr(te, attribute):
            return te.part + out
    return None


def embedding_tensors(vectors_by_text_encoder: Mapping[str, torch.Tensor], keymap: FamilyKeymap
                      ) -> dict[str, torch.Tensor]:
    """`{text encoder part(+_out): vectors}` -> the family's embedding-file tensor names."""
    keymap = require_keymap(keymap)
    return {_file_key(k, keymap, "embedding_key"): v for k, v in vectors_by_text_encoder.items()}


def save_embedding(path: str | os.PathLike, vectors_by_text_encoder: Mapping[str, torch.Tensor],
                   keymap: FamilyKeymap, metadata: Mapping[str, str] | None = None, *, dtype: torch.dtype | None = None) -> Path:
    """Write `{text encoder part: [token_count, hidden]}` under the family's tensor names."""
    tensors = embedding_tensors(vectors_by_text_encoder, keymap)
    if dtype is not None:
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
    return write_safetensors(path, tensors, metadata)


def load_embedding(path: str | os.PathLike, keymap: FamilyKeymap) -> dict[str, torch.Tensor]:
    """Our files, A1111 `.pt` (`string_to_param`) / `emb_params` files and diffusers single-token
    `.bin` files -> `{text encoder part(+_out): vectors}`."""
    keymap = require_keymap(keymap)
    data, _ = read_state_dict(path)
    if isinstance(data.get(_A1111_PARAMS), Mapping):
        data = {_A1111_SAFETENSORS_KEY: next(iter(data[_A1111_PARAMS].values()))}
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    result = {}
    for key, value in tensors.items():
        part = _part_key(key, keymap, "embedding_key")
        if part is not None:
            result[part] = value
    if not result and len(tensors) == 1 and len(keymap.text_encoders) == 1:
        # a lone vector under a token name or another tool's key belongs to the only text encoder
        result[keymap.text_encoders[0].part] = next(iter(tensors.values()))
    if not result:
        raise EmbeddingKeyError(f"no {keymap.name} embedding tensors in {path} (keys: {sorted(data)})")
    return {k: v if v.ndim == 2 else v.reshape(-1, v.shape[-1]) for k, v in result.items()}


def bundle_embeddings(embeddings: Mapping[str, Mapping[str, torch.Tensor]], keymap: FamilyKeymap
                      ) -> dict[str, torch.Tensor]:
    """`{placeholder: {part: vectors}}` -> `bundle_emb.<placeholder>.<key>` adapter-file tensors."""
    return {f"{BUNDLE_PREFIX}{placeholder}.{_file_key(k, keymap, 'bundle_key')}": v
            for placeholder, vectors in embeddings.items() for k, v in vectors.items()}


def unbundle_key(key: str, keymap: FamilyKeymap) -> tuple[str, str]:
    """`bundle_emb.<placeholder>.<key>` -> (placeholder, text encoder part(+_out))."""
    placeholder, _, file_key = key[len(BUNDLE_PREFIX):].rpartition(".")
    part = _part_key(file_key, keymap, "bundle_key")
    if not placeholder or part is None:
        raise EmbeddingKeyError(f"unrecognised bundled embedding {key} for {keymap.name}")
    return placeholder, part
