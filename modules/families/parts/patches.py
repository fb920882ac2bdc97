"""Latents as a sequence of 2×2 patches (Flux-style transformers): packing, unpacking, position ids."""
from __future__ import annotations

from functools import lru_cache

import torch


def pack(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] (or a single frame [B, C, 1, H, W]) -> [B, H/2 · W/2, C · 4]: each token holds a
    2×2 patch, channel-major."""
    b, c, h, w = latents.shape[0], latents.shape[1], latents.shape[-2], latents.shape[-1]
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, height: int, width: int, single_frame: bool = False) -> torch.Tensor:
    """The inverse of `pack` for latents of `height` × `width` cells: [B, C, H, W], or [B, C, 1, H, W]
    with `single_frame` (shaped in the same copy, not by another op)."""
    b, _, d = tokens.shape
    x = tokens.view(b, height // 2, width // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, d // 4, *((1,) if single_frame else ()), height, width)


def image_ids(height: int, width: int, device, dtype) -> torch.Tensor:
    """[tokens, 3] position ids of the packed image tokens: (0, row, column). Asked with the same
    size on every step of a bucket: built once per size (read only, as the transformers use them)."""
    return _fresh_or_cached(_image_ids, height, width, device, dtype)


def text_ids(length: int, device, dtype) -> torch.Tensor:
    """[tokens, 3] position ids of the caption tokens: all zero (read only, built once per length)."""
    return _fresh_or_cached(_text_ids, length, device, dtype)


def _fresh_or_cached(build, *key):
    # a tensor made in inference mode cannot join autograd later: such calls get their own, uncached
    return build.__wrapped__(*key) if torch.is_inference_mode_enabled() else build(*key)


@lru_cache(maxsize=64)
def _image_ids(height: int, width: int, device, dtype) -> torch.Tensor:
    ids = torch.zeros(height // 2, width // 2, 3, device=device, dtype=dtype)
    ids[..., 1] = torch.arange(height // 2, device=device, dtype=dtype)[:, None]
    ids[..., 2] = torch.arange(width // 2, device=device, dtype=dtype)[None, :]
    return ids.reshape(-1, 3)


@lru_cache(maxsize=64)
def _text_ids(length: int, device, dtype) -> torch.Tensor:
    return torch.zeros(length, 3, device=device, dtype=dtype)
