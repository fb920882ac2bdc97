"""Stable Diffusion 1.x / 2.x: base, inpainting, depth, ε- and v-prediction."""
from __future__ import annotations

import torch

from ..ddpm import DDPMObjective
from ..diffusers_family import DiffusersFamily
from ..parts import clip, depth, inpainting
from .facts import FACTS


class StableDiffusionFamily(DDPMObjective, DiffusersFamily):
    facts = FACTS

    @property
    def has_depth_input(self) -> bool:
        return self.model_type.has_depth_input()

    def single_file_kwargs(self) -> dict:
        return {"safety_checker": None, "requires_safety_checker": False}

    def encode_prompts(self, model, texts, config):
        ids = clip.tokenize(model["tokenizer"], self.expanded(model, texts, "text_encoder"))
        skip = int(getattr(config, "text_encoder_layer_skip", 0) or 0)
        return {"hidden": clip.last_hidden(model["text_encoder"], ids, skip)}

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        inputs = super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)
        size = latents.shape[-2:]
        if self.has_mask_input:
            mask, masked = inpainting.conditioning(lambda p: self.encode_images(model, p), latents, pixels, masks, batch)
            inputs.masks = mask
            inputs.extras = {"mask": mask, "masked_latents": masked}
        if self.has_depth_input:
            inputs.extras = {"depth": depth.depth_map(model.get("depth_estimator"), pixels, size).to(latents)}
        return inputs

    def run_denoiser(self, model, x, timesteps, inputs, config):
        unet, dtype = model["unet"], model.dtype_of("unet")
        hidden = inputs.conditioning["hidden"].to(dtype)
        return unet(x.to(dtype), timesteps, encoder_hidden_states=hidden).sample

    def sample_kwargs(self, model, sample_config):
        kwargs = {"clip_skip": int(sample_config.text_encoder_1_layer_skip) or None}
        width, height = int(sample_config.width), int(sample_config.height)
        if self.has_mask_input:
            image, mask = inpainting.sample_images(sample_config, width, height)
            kwargs.update(image=image, mask_image=mask, strength=1.0)
        if self.has_depth_input:
            kwargs.update(self._depth_sample_kwargs(model, sample_config, width, height))
        return kwargs

    def _depth_sample_kwargs(self, model, sample_config, width: int, height: int) -> dict:
        import numpy as np
        from PIL import Image

        image = Image.open(sample_config.base_image_path).convert("RGB").resize((width, height)) \
            if sample_config.base_image_path else Image.new("RGB", (width, height), (127, 127, 127))
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
        depth_map = depth.depth_map(model.get("depth_estimator"), pixels, (height, width))[:, 0]
        return {"image": image, "depth_map": depth_map, "strength": 1.0}

    def size_kwargs(self, sample_config) -> dict:
        # the depth pipeline takes its size from the image; width/height are not its arguments
        return {} if self.has_depth_input else super().size_kwargs(sample_config)

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_sd

        return build_tiny_sd(self.model_type, out_dir, seed)


FAMILY = StableDiffusionFamily
