"""Stable Diffusion XL 1.0 base and inpainting: two CLIP encoders, pooled text embeds and time ids."""
from __future__ import annotations

import torch

from ..ddpm import DDPMObjective
from ..diffusers_family import DiffusersFamily
from ..parts import clip, inpainting
from .facts import FACTS


class StableDiffusionXLFamily(DDPMObjective, DiffusersFamily):
    facts = FACTS

    def encode_prompts(self, model, texts, config):
        out = {}
        skips = {"text_encoder": int(getattr(config, "text_encoder_layer_skip", 0) or 0),
                 "text_encoder_2": int(getattr(config, "text_encoder_2_layer_skip", 0) or 0)}
        for key, part in (("hidden_1", "text_encoder"), ("hidden_2", "text_encoder_2")):
            encoder = model.get(part)
            if encoder is None:  # a text encoder left out with include = false contributes zeros
                out[key] = None
                continue
            ids = clip.tokenize(self.tokenizer_of(model, part), self.expanded(model, texts, part))
            result = encoder(ids.to(encoder.device), output_hidden_states=True)
            out[key] = result.hidden_states[-(2 + skips[part])]  # SDXL conditions on the penultimate layer
            if part == "text_encoder_2":
                out["pooled"] = result.text_embeds
        reference = next(v for v in out.values() if v is not None)
        for key, part in (("hidden_1", "text_encoder"), ("hidden_2", "text_encoder_2")):
            if out[key] is None:
                out[key] = reference.new_zeros(*reference.shape[:2], self._width(model, part))
        if "pooled" not in out:
            unet = model["unet"].config
            out["pooled"] = reference.new_zeros(reference.shape[0], unet.projection_class_embeddings_input_dim
                                                - 6 * unet.addition_time_embed_dim)
        return out

    def _width(self, model, part) -> int:
        if model.get(part) is not None:
            return model[part].config.hidden_size
        other = "text_encoder_2" if part == "text_encoder" else "text_encoder"
        return model["unet"].config.cross_attention_dim - model[other].config.hidden_size

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        inputs = super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)
        if self.has_mask_input:
            mask, masked = inpainting.conditioning(lambda p: self.encode_images(model, p), latents, pixels, masks, batch)
            inputs.masks = mask
            inputs.extras = {"mask": mask, "masked_latents": masked}
        if batch is not None and batch.original_sizes:
            h, w = batch.resolution
            rows = [[*orig, *crop, h, w] for orig, crop in zip(batch.original_sizes, batch.crop_offsets, strict=True)]
            inputs.extras["time_ids"] = torch.tensor(rows, dtype=torch.float32, device=latents.device)
        return inputs

    def run_denoiser(self, model, x, timesteps, inputs, config):
        unet, dtype = model["unet"], model.dtype_of("unet")
        cond = inputs.conditioning
        # cast before joining: autocast refuses to join two different half-precision dtypes
        hidden = torch.cat([cond["hidden_1"].to(dtype), cond["hidden_2"].to(dtype)], dim=-1)
        h, w = x.shape[-2] * self.latent_scale, x.shape[-1] * self.latent_scale
        time_ids = inputs.extras.get("time_ids")
        if time_ids is None:  # original size, crop offset, target size
            time_ids = torch.tensor([[h, w, 0, 0, h, w]] * x.shape[0], dtype=dtype, device=x.device)
        added = {"text_embeds": cond["pooled"].to(dtype), "time_ids": time_ids.to(dtype)}
        return unet(x.to(dtype), timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added).sample

    def prompt_kwargs(self, model, sample_config) -> dict:
        """Each text encoder reads the prompt with its own embedding placeholders."""
        kwargs = super().prompt_kwargs(model, sample_config)
        prompt_2 = self.expanded(model, [sample_config.prompt], "text_encoder_2")[0]
        negative_2 = self.expanded(model, [sample_config.negative_prompt or ""], "text_encoder_2")[0]
        return {**kwargs, "prompt_2": prompt_2, "negative_prompt_2": negative_2 or None}

    def sample_kwargs(self, model, sample_config):
        kwargs = {"clip_skip": int(sample_config.text_encoder_1_layer_skip) or None}
        if self.has_mask_input:
            width, height = int(sample_config.width), int(sample_config.height)
            image, mask = inpainting.sample_images(sample_config, width, height)
            kwargs.update(image=image, mask_image=mask, strength=1.0)
        return kwargs

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_sdxl

        return build_tiny_sdxl(self.model_type, out_dir, seed)


FAMILY = StableDiffusionXLFamily
