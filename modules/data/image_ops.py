"""Pixel operations on float tensors in [0, 1] (PIL for decoding, torch for the rest).

Tensors are (C, H, W), or (F, C, H, W) for the frames of a clip: every operation treats the
frames alike, so a clip's augmentations are the same on each frame."""

import math

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_GRAY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as the usual adjust_* functions use


def image_size(path) -> tuple[int, int]:
    """(height, width) after EXIF orientation, read from the header only."""
    with Image.open(path) as img:
        width, height = img.size
        if img.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSED_ORIENTATIONS:
            width, height = height, width
    return height, width


def load_image(path) -> torch.Tensor:
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        return _to_tensor(img)


def load_mask(path, size: tuple[int, int]) -> torch.Tensor:
    """Single-channel mask (white = 1) resized to (height, width)."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("L")
        mask = _to_tensor(img)
    if tuple(mask.shape[-2:]) != tuple(size):
        mask = resize(mask, size)
    return mask


def _to_tensor(img: Image.Image) -> torch.Tensor:
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    channels = len(img.getbands())
    return data.view(img.height, img.width, channels).permute(2, 0, 1).float().div_(255.0)


def _as_batch(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *t.shape[-3:])


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    out = F.interpolate(_as_batch(t), size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    return out.reshape(*t.shape[:-2], *size).clamp_(0.0, 1.0)


def crop(t: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    return t[..., top:top + height, left:left + width]


def hflip(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-1)


def rotate(t: torch.Tensor, degrees: float, center: tuple[float, float] | None = None) -> torch.Tensor:
    """Counter-clockwise rotation about center (y, x) in pixels; same size, zeros outside, bilinear."""
    if degrees == 0:
        return t
    h, w = t.shape[-2:]
    cy, cx = center if center is not None else ((h - 1) / 2, (w - 1) / 2)
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    dx, dy = xs - cx, ys - cy
    src_x = cx + cos * dx - sin * dy
    src_y = cy + sin * dx + cos * dy
    grid = torch.stack(((2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1), dim=-1)
    batch = _as_batch(t)
    out = F.grid_sample(batch, grid[None].expand(batch.shape[0], -1, -1, -1), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    return out.reshape(t.shape)


def grayscale(t: torch.Tensor) -> torch.Tensor:
    r, g, b = t.unbind(-3)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b).unsqueeze(-3)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * a + (1.0 - factor) * b).clamp_(0.0, 1.0)


def adjust_brightness(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, torch.zeros_like(t), factor)


def adjust_contrast(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, grayscale(t).mean(dim=(-3, -2, -1), keepdim=True).expand_as(t), factor)  # per frame


def adjust_saturation(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, grayscale(t).expand_as(t), factor)


def adjust_hue(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue by shift (in turns, -0.5..0.5)."""
    h, s, v = rgb_to_hsv(t).unbind(-3)
    return hsv_to_rgb(torch.stack(((h + shift) % 1.0, s, v), dim=-3))


def rgb_to_hsv(t: torch.Tensor) -> torch.Tensor:
    r, g, b = t.unbind(-3)
    maxc, _ = t.max(-3)
    minc, _ = t.min(-3)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    h = torch.where(maxc == r, ((g - b) / safe) % 6,
                    torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h)) % 1.0
    return torch.stack((h, s, maxc), dim=-3)


def hsv_to_rgb(t: torch.Tensor) -> torch.Tensor:
    h, s, v = t.unbind(-3)
    h6 = h * 6.0
    sector = torch.floor(h6).long() % 6
    f = h6 - torch.floor(h6)
    p, q, u = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = (
        (v, u, p), (q, v, p), (p, v, u), (p, q, v), (u, p, v), (v, p, q),
    )
    out = list(torch.zeros_like(t).unbind(-3))
    for index, rgb in enumerate(choices):
        sel = sector == index
        out = [torch.where(sel, value, channel) for value, channel in zip(rgb, out, strict=True)]
    return torch.stack(out, dim=-3).clamp_(0.0, 1.0)


def bounding_box(mask: torch.Tensor, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the mask's on-pixels (bottom/right exclusive), None if empty."""
    on = mask[0] > threshold
    rows = torch.nonzero(on.any(1)).flatten()
    cols = torch.nonzero(on.any(0)).flatten()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
