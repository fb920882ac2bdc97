"""Flux.1 dev and Fill dev: packed 2×2 latent patches with image/text position ids, pooled CLIP-L and
T5 conditioning, distilled guidance as an input, flow matching with the transformer reading t/1000."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import clip, inpainting, t5
from ..parts.patches import image_ids, pack, text_ids, unpack
from .facts import FACTS

CLIP_LENGTH = 77
DEFAULT_T5_LENGTH = 512


def fill_mask(masks: torch.Tensor | None, latents: torch.Tensor, pixels: torch.Tensor | None) -> torch.Tensor:
    """The inpainting mask as Flux Fill reads it: pixel-sized, each latent cell's s × s pixels folded
    into s² channels ([B, s², h, w]), 1 where the image is to be painted."""
    b, _, h, w = latents.shape
    scale = pixels.shape[-1] // w if pixels is not None else 8
    if masks is None:
        masks = torch.ones(b, 1, h * scale, w * scale, device=latents.device)
    mask = F.interpolate(masks.float(), size=(h * scale, w * scale), mode="nearest")[:, 0]
    mask = mask.view(b, h, scale, w, scale).permute(0, 2, 4, 1, 3)
    return mask.reshape(b, scale * scale, h, w).to(latents)


class FluxFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry these
        model.extra["flux_text"] = {"length": self._t5_length(config),
                                    "mask": bool(config.transformer.attention_mask)}

    @staticmethod
    def _t5_length(config) -> int:
        length = getattr(config, "text_encoder_2_sequence_length", None)
        return int(length) if length else DEFAULT_T5_LENGTH

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._t5_length(config), bool(config.transformer.attention_mask))

    def _encode(self, model, texts, t5_length: int, use_mask: bool) -> dict[str, torch.Tensor]:
        transformer = model["transformer"].config
        n = len(texts)
        clip_encoder = model.get("text_encoder")
        if clip_encoder is not None:
            ids = clip.tokenize(self.tokenizer_of(model, "text_encoder"), self.expanded(model, texts, "text_encoder"),
                                CLIP_LENGTH)
            pooled = clip_encoder(ids.to(clip_encoder.device)).pooler_output
        else:  # left out with include = false: no pooled conditioning
            pooled = torch.zeros(n, transformer.pooled_projection_dim)
        t5_encoder = model.get("text_encoder_2")
        if t5_encoder is not None:
            hidden, mask = t5.encode(t5_encoder, self.tokenizer_of(model, "text_encoder_2"),
                                     self.expanded(model, texts, "text_encoder_2"), t5_length, use_mask=use_mask)
        else:
            hidden = torch.zeros(n, t5_length, transformer.joint_attention_dim, device=pooled.device)
            mask = torch.ones(n, t5_length, dtype=torch.long, device=pooled.device)
        return {"pooled": pooled, "t5": hidden.to(pooled.device), "t5_mask": mask.to(pooled.device)}

    # ---------------------------------------------------------------- training inputs
    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        inputs = super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)
        if self.has_mask_input:
            mask, masked = inpainting.conditioning(lambda p: self.encode_images(model, p), latents, pixels, masks, batch)
            inputs.masks = mask
            inputs.extras = {"masked_latents": masked, "fill_mask": fill_mask(masks, latents, pixels)}
        return inputs

    def denoiser_input(self, inputs, noisy):
        """Fill: the noisy latents, the masked image's latents, the folded mask (packing keeps this order)."""
        if "fill_mask" in inputs.extras:
            return torch.cat([noisy, inputs.extras["masked_latents"], inputs.extras["fill_mask"]], dim=1)
        return noisy

    def model_timesteps(self, sigma, timesteps):
        return timesteps / 1000  # the transformer multiplies by 1000 itself

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        b, _, h, w = x.shape
        hidden = cond["t5"].to(dtype)
        guidance = None
        if transformer.config.guidance_embeds:
            guidance = torch.full((b,), float(config.transformer.guidance_scale), device=x.device, dtype=torch.float32)
        kwargs = {}
        if config.transformer.attention_mask and "t5_mask" in cond:
            text = cond["t5_mask"].to(x.device).bool()
            keep = torch.cat([text, text.new_ones(b, (h // 2) * (w // 2))], dim=1)
            kwargs["joint_attention_kwargs"] = {"attention_mask": keep[:, None, None, :]}
        out = transformer(hidden_states=pack(x).to(dtype), timestep=timesteps.to(dtype), guidance=guidance,
                          pooled_projections=cond["pooled"].to(dtype), encoder_hidden_states=hidden,
                          txt_ids=text_ids(hidden.shape[1], x.device, dtype),
                          img_ids=image_ids(h, w, x.device, dtype), return_dict=False, **kwargs)[0]
        return unpack(out, h, w)

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        text = model.extra.get("flux_text", {"length": DEFAULT_T5_LENGTH, "mask": False})
        encoded = self._encode(model, [sample_config.prompt], text["length"], text["mask"])
        dtype = model.dtype_of("transformer")
        return {"prompt_embeds": encoded["t5"].to(dtype), "pooled_prompt_embeds": encoded["pooled"].to(dtype),
                "max_sequence_length": text["length"]}

    def sample_kwargs(self, model, sample_config):
        if not self.has_mask_input:
            return {}
        width, height = int(sample_config.width), int(sample_config.height)
        image, mask = inpainting.sample_images(sample_config, width, height)
        return {"image": image, "mask_image": mask}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_flux

        return build_tiny_flux(self.model_type, out_dir, seed)


FAMILY = FluxFamily
