"""Inpainting inputs: the latent-sized mask and the latents of the image with the masked area blanked."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def latent_mask(masks: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(masks.float(), size=size, mode="nearest")


def conditioning(encode_images, latents: torch.Tensor, pixels: torch.Tensor | None,
                 masks: torch.Tensor | None, batch=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(latent mask, conditioning-image latents). The conditioning image is the batch's custom one
    (`conditioning_pixels`, from `-condlabel` files) when it has one, else the image with the masked
    area blanked. No mask: the whole image is to be painted."""
    size = latents.shape[-2:]
    if masks is None:
        masks = torch.ones(latents.shape[0], 1, *size)
    mask = latent_mask(masks, size)
    custom = getattr(batch, "conditioning_pixels", None)
    if custom is not None:
        return mask.to(latents), encode_images(custom.to(latents.device)).to(latents)
    if pixels is None:
        return mask.to(latents), torch.zeros_like(latents)
    pixel_mask = masks if masks.shape[-2:] == pixels.shape[-2:] else \
        F.interpolate(masks.float(), size=pixels.shape[-2:], mode="nearest")
    masked = encode_images(pixels * (1 - pixel_mask.to(pixels)))
    return mask.to(latents), masked.to(latents)


def sample_images(sample_config, width: int, height: int):
    """(image, mask) PIL pair for an inpainting pipeline: the sample's base image and mask when
    inpainting is asked for, else a grey image painted entirely."""
    from PIL import Image

    if sample_config.sample_inpainting and sample_config.base_image_path:
        image = Image.open(sample_config.base_image_path).convert("RGB").resize((width, height))
        mask = Image.open(sample_config.mask_image_path).convert("L").resize((width, height)) \
            if sample_config.mask_image_path else Image.new("L", (width, height), 255)
        return image, mask
    return Image.new("RGB", (width, height), (127, 127, 127)), Image.new("L", (width, height), 255)
