"""Pixel operations on CHW float tensors in [0, 1] (PIL for decoding, torch for the rest)."""

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


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    out = F.interpolate(t[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return out.clamp_(0.0, 1.0)


def crop(t: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    return t[..., top:top + height, left:left + width]


def hflip(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-1)


def rotate(t: torch.Tensor, degrees: float, center: tuple[float, float] | None = None) -> torch.Tensor:
    """Counter-clockwise rotation about center (y, x) in pixels; same size, zeros outside, bilinear."""
    if degrees == 0:
        return t
    _, h, w = t.shape
    cy, cx = center if center is not None else ((h - 1) / 2, (w - 1) / 2)
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    dx, dy = xs - cx, ys - cy
    src_x = cx + cos * dx - sin * dy
    src_y = cy + sin * dx + cos * dy
    grid = torch.stack(((2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1), dim=-1)
    out = F.grid_sample(t[None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0]


def grayscale(t: torch.Tensor) -> torch.Tensor:
    r, g, b = t.unbind(0)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b)[None]


def _blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * a + (1.0 - factor) * b).clamp_(0.0, 1.0)


def adjust_brightness(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, torch.zeros_like(t), factor)


def adjust_contrast(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, grayscale(t).mean().expand_as(t), factor)


def adjust_saturation(t: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(t, grayscale(t).expand_as(t), factor)


def adjust_hue(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue by shift (in turns, -0.5..0.5)."""
    h, s, v = rgb_to_hsv(t).unbind(0)
    return hsv_to_rgb(torch.stack(((h + shift) % 1.0, s, v)))


def rgb_to_hsv(t: torch.Tensor) -> torch.Tensor:
    r, g, b = t.unbind(0)
    maxc, _ = t.max(0)
    minc, _ = t.min(0)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    h = torch.where(maxc == r, ((g - b) / safe) % 6,
                    torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h)) % 1.0
    return torch.stack((h, s, maxc))


def hsv_to_rgb(t: torch.Tensor) -> torch.Tensor:
    h, s, v = t.unbind(0)
    h6 = h * 6.0
    sector = torch.floor(h6).long() % 6
    f = h6 - torch.floor(h6)
    p, q, u = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = (
        (v, u, p), (q, v, p), (p, v, u), (p, q, v), (u, p, v), (v, p, q),
    )
    out = torch.zeros_like(t)
    for index, (r, g, b) in enumerate(choices):
        sel = sector == index
        out[0] = torch.where(sel, r, out[0])
        out[1] = torch.where(sel, g, out[1])
        out[2] = torch.where(sel, b, out[2])
    return out.clamp_(0.0, 1.0)


def bounding_box(mask: torch.Tensor, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the mask's on-pixels (bottom/right exclusive), None if empty."""
    on = mask[0] > threshold
    rows = torch.nonzero(on.any(1)).flatten()
    cols = torch.nonzero(on.any(0)).flatten()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
