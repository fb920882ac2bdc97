"""Stable Diffusion XL 1.0 base and inpainting: two CLIP encoders, pooled text embeds and time ids."""
from __future__ import annotations

import torch

from ..diffusion import LatentDiffusionFamily
from .tiny import build_tiny_sdxl


class StableDiffusionXLFamily(LatentDiffusionFamily):
    text_encoders = ("text_encoder", "text_encoder_2")
    conditioning_keys = {"text_encoder": ("hidden_1",), "text_encoder_2": ("hidden_2", "pooled")}
    embedding_keys = {"text_encoder": "clip_l", "text_encoder_2": "clip_g"}
    bundle_embedding_keys = embedding_keys
    layer_presets = {"attn-mlp": ["attentions"], "attn-only": ["attn"], "full": []}

    @property
    def pipeline_class(self) -> str:
        return "StableDiffusionXLInpaintPipeline" if self.has_mask_input else "StableDiffusionXLPipeline"

    def encode_prompts(self, model, texts, config):
        out = {}
        skips = (int(getattr(config, "text_encoder_layer_skip", 0) or 0),
                 int(getattr(config, "text_encoder_2_layer_skip", 0) or 0))
        for key, part, tok, skip in (("hidden_1", "text_encoder", "tokenizer", skips[0]),
                                     ("hidden_2", "text_encoder_2", "tokenizer_2", skips[1])):
            encoder = model.get(part)
            if encoder is None:  # a text encoder left out with include = false contributes zeros
                out[key] = None
                continue
            ids = self.tokenize(model[tok], texts)
            result = encoder(ids.to(encoder.device), output_hidden_states=True)
            out[key] = result.hidden_states[-(2 + skip)]  # SDXL conditions on the penultimate layer
            if part == "text_encoder_2":
                out["pooled"] = result.text_embeds
        reference = next(v for v in out.values() if v is not None)
        for key, width in (("hidden_1", self._width(model, "text_encoder")),
                           ("hidden_2", self._width(model, "text_encoder_2"))):
            if out[key] is None:
                out[key] = reference.new_zeros(*reference.shape[:2], width)
        if "pooled" not in out:
            out["pooled"] = reference.new_zeros(reference.shape[0], model["unet"].config.projection_class_embeddings_input_dim
                                                - 6 * model["unet"].config.addition_time_embed_dim)
        return out

    def _width(self, model, part) -> int:
        unet_width = model["unet"].config.cross_attention_dim
        other = "text_encoder_2" if part == "text_encoder" else "text_encoder"
        if model.get(part) is not None:
            return model[part].config.hidden_size
        return unet_width - model[other].config.hidden_size

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        inputs = super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)
        if batch is not None and batch.original_sizes:
            h, w = batch.resolution
            rows = [[*orig, *crop, h, w] for orig, crop in zip(batch.original_sizes, batch.crop_offsets, strict=True)]
            inputs.extras["time_ids"] = torch.tensor(rows, dtype=torch.float32, device=latents.device)
        return inputs

    def run_denoiser(self, model, x, timesteps, inputs, config):
        unet = model["unet"]
        cond = inputs.conditioning
        # cast before joining: autocast refuses to join two different half-precision dtypes
        hidden = torch.cat([cond["hidden_1"].to(unet.dtype), cond["hidden_2"].to(unet.dtype)], dim=-1)
        h, w = x.shape[-2] * self.latent_scale, x.shape[-1] * self.latent_scale
        time_ids = inputs.extras.get("time_ids")
        if time_ids is None:  # original size, crop offset, target size
            time_ids = torch.tensor([[h, w, 0, 0, h, w]] * x.shape[0], dtype=unet.dtype, device=x.device)
        added = {"text_embeds": cond["pooled"].to(unet.dtype), "time_ids": time_ids.to(unet.dtype)}
        return unet(x.to(unet.dtype), timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added).sample

    def build_tiny(self, out_dir, seed: int = 0):
        return build_tiny_sdxl(self.model_type, out_dir, seed)
