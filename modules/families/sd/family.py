"""Stable Diffusion 1.x / 2.x: base, inpainting, depth, ε- and v-prediction."""
from __future__ import annotations

import torch

from ..diffusion import LatentDiffusionFamily
from .tiny import build_tiny_sd


class StableDiffusionFamily(LatentDiffusionFamily):
    text_encoders = ("text_encoder",)
    conditioning_keys = {"text_encoder": ("hidden",)}
    embedding_keys = {"text_encoder": "emp_params"}
    bundle_embedding_keys = {"text_encoder": "clip_l"}
    layer_presets = {"attn-mlp": ["attentions"], "attn-only": ["attn"], "full": []}

    @property
    def pipeline_class(self) -> str:
        if self.has_depth_input:
            return "StableDiffusionDepth2ImgPipeline"
        return "StableDiffusionInpaintPipeline" if self.has_mask_input else "StableDiffusionPipeline"

    def encode_prompts(self, model, texts, config):
        encoder, tokenizer = model["text_encoder"], model["tokenizer"]
        ids = self.tokenize(tokenizer, texts)
        skip = int(getattr(config, "text_encoder_layer_skip", 0) or 0)
        if skip > 0:
            _, hidden = self.clip_hidden(encoder, ids, skip)
        else:
            hidden = encoder(ids.to(encoder.device)).last_hidden_state
        return {"hidden": hidden}

    def run_denoiser(self, model, x, timesteps, inputs, config):
        unet = model["unet"]
        hidden = inputs.conditioning["hidden"].to(unet.dtype)
        return unet(x.to(unet.dtype), timesteps, encoder_hidden_states=hidden).sample

    def sample_kwargs(self, model, sample_config):
        kwargs = super().sample_kwargs(model, sample_config)
        if self.has_depth_input:
            import numpy as np
            from PIL import Image

            size = (int(sample_config.width), int(sample_config.height))
            image = Image.open(sample_config.base_image_path).convert("RGB").resize(size) \
                if sample_config.base_image_path else Image.new("RGB", size, (127, 127, 127))
            pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
            depth = self.depth_input(model, pixels, (size[1], size[0]))[:, 0]
            # the depth pipeline takes its size from the image; width/height are not its arguments
            kwargs.update(image=image, depth_map=depth, strength=1.0)
        return kwargs

    def pipeline_size_kwargs(self, sample_config) -> dict:
        if self.has_depth_input:
            return {}
        return super().pipeline_size_kwargs(sample_config)

    def build_tiny(self, out_dir, seed: int = 0):
        return build_tiny_sd(self.model_type, out_dir, seed)
