"""The one torchvision call of diffusers' Cosmos transformer, for installs without torchvision.

`CosmosTransformer3DModel` resizes its padding mask to the latent size with torchvision's
nearest-neighbour `resize` (which, on tensors, is `torch.nn.functional.interpolate` in "nearest"
mode). Without torchvision the module has no `transforms` and the forward fails; this gives it the
same resize."""
from __future__ import annotations

import enum
import types

import torch


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"


def resize(tensor: torch.Tensor, size: list[int], interpolation=InterpolationMode.NEAREST) -> torch.Tensor:
    if interpolation is not InterpolationMode.NEAREST and getattr(interpolation, "value", None) != "nearest":
        raise NotImplementedError("only nearest-neighbour resizing is provided")
    if list(tensor.shape[-2:]) == list(size):
        return tensor
    return torch.nn.functional.interpolate(tensor, size=list(size), mode="nearest")


def ensure_resize() -> None:
    """Give diffusers' Cosmos module a `transforms` when torchvision is not installed."""
    from diffusers.models.transformers import transformer_cosmos

    if getattr(transformer_cosmos, "transforms", None) is None:
        transformer_cosmos.transforms = types.SimpleNamespace(
            functional=types.SimpleNamespace(resize=resize), InterpolationMode=InterpolationMode)
