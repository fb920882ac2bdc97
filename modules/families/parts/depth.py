"""Depth conditioning: a depth map at latent size in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def depth_map(estimator, pixels: torch.Tensor | None, size) -> torch.Tensor:
    """From the model's depth estimator when it ships one, else the image's luminance (a stand-in for a
    folder that ships none)."""
    if pixels is None:
        return torch.zeros(1, 1, *size)
    with torch.no_grad():
        if estimator is not None:
            depth = estimator(pixel_values=_estimator_input(estimator, pixels)).predicted_depth[:, None]
        else:
            depth = (0.299 * pixels[:, :1] + 0.587 * pixels[:, 1:2] + 0.114 * pixels[:, 2:3] + 1) / 2
    depth = F.interpolate(depth.float(), size=size, mode="bicubic", align_corners=False)
    lo = depth.amin(dim=(1, 2, 3), keepdim=True)
    hi = depth.amax(dim=(1, 2, 3), keepdim=True)
    return 2.0 * (depth - lo) / (hi - lo).clamp(min=1e-6) - 1.0


def _estimator_input(estimator, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] resized to the estimator's square input size, as its image processor does (a ViT
    DPT reads only square grids, while training images come in aspect buckets)."""
    side = estimator.config.image_size
    pixels = F.interpolate(pixels.float(), size=(side, side), mode="bicubic", align_corners=False)
    return pixels.to(estimator.device, estimator.dtype)
