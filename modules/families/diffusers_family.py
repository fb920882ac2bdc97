"""Behaviour shared by every family whose model is a diffusers pipeline: loading, latents through a
VAE, sampling through the pipeline, saving as a diffusers folder.

What differs between families is asked through small hooks (`encode_prompts`, `run_denoiser`,
`sample_kwargs`, `single_file_kwargs`); the noise objective (DDPM or flow matching) is a mixin from
`ddpm.py` / `flow.py`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import Inputs, Model, ModelFamily
from .parts import diffusers_io, inpainting, vae


class DiffusersFamily(ModelFamily):
    # ---------------------------------------------------------------- loading
    def single_file_kwargs(self) -> dict:
        """Extra arguments of the pipeline's `from_single_file`."""
        return {}

    def load(self, source: str, config, *, config_dir: str | None = None) -> Model:
        path, components = diffusers_io.load_components(
            source, self.keymap, self.model_type, config, config_dir=config_dir,
            single_file_kwargs=self.single_file_kwargs())
        diffusers_io.freeze(components, (*self.facts.parts, *self.text_encoders), config)
        model = Model(model_type=self.model_type, components=components, source=path)
        self.setup_objective(model, config)
        return model

    def setup_objective(self, model: Model, config) -> None:
        """Prepare what the objective needs for training (the DDPM/flow mixins implement it)."""

    # ---------------------------------------------------------------- encoding
    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        return vae.encode(model["vae"], pixels)

    def decode_for_vae_training(self, model: Model, latents: torch.Tensor) -> torch.Tensor:
        return vae.decode(model["vae"], latents)

    def prepare_inputs(self, model: Model, latents, pixels, masks, conditioning, config, batch=None) -> Inputs:
        """Loss masks come from the data pipeline at pixel size: resized to the latents here, for
        every family (a family adds its own extras on top)."""
        inputs = super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)
        if masks is not None:  # a clip's mask (B, 1, F, H, W) meets video latents (B, C, f, h, w) frame for frame;
            # an image's mask meets the latents' last two axes (also 5-D single-frame latents)
            size = latents.shape[2:] if masks.ndim == latents.ndim else latents.shape[-2:]
            inputs.masks = inpainting.latent_mask(masks, size)
        return inputs

    @staticmethod
    def expanded(model: Model, texts: list[str], part: str) -> list[str]:
        """The captions as text encoder `part` reads them: its own embedding placeholders expanded."""
        expand = model.extra.get("expand_prompt")
        return list(texts) if expand is None else [expand(t, part) for t in texts]

    def denoiser_input(self, inputs: Inputs, noisy: torch.Tensor) -> torch.Tensor:
        """The denoiser's input channels: the noisy latents plus any conditioning image channels."""
        extra = [inputs.extras[k] for k in ("mask", "masked_latents", "depth") if k in inputs.extras]
        return torch.cat([noisy, *extra], dim=1) if extra else noisy

    def run_denoiser(self, model: Model, x: torch.Tensor, timesteps: torch.Tensor, inputs: Inputs, config):
        raise NotImplementedError

    # ---------------------------------------------------------------- sampling
    def pipeline_class(self) -> str:
        return self.facts.pipeline(self.model_type)

    def sampling_scheduler(self, model: Model, sample_config):
        return model["scheduler"]

    def pipeline(self, model: Model, sample_config):
        import diffusers

        cls = getattr(diffusers, self.pipeline_class())
        names, options = cls._get_signature_keys(cls)
        parts = {k: v for k, v in model.components.items() if k in names and k != "scheduler"}
        optional = {k: None for k in names if k not in parts and k != "scheduler"}
        extra = {k: False for k in ("requires_safety_checker", "add_watermarker") if k in options}
        return cls(**parts, **optional, scheduler=self.sampling_scheduler(model, sample_config), **extra)

    def prompt_kwargs(self, model: Model, sample_config) -> dict:
        """Prompt and negative prompt as the first text encoder reads them."""
        part = self.text_encoders[0]
        prompt = self.expanded(model, [sample_config.prompt], part)[0]
        negative = self.expanded(model, [sample_config.negative_prompt or ""], part)[0]
        return {"prompt": prompt, "negative_prompt": negative or None}

    def size_kwargs(self, sample_config) -> dict:
        return {"width": int(sample_config.width), "height": int(sample_config.height)}

    def sample_kwargs(self, model: Model, sample_config) -> dict:
        """Family-specific pipeline arguments (clip skip, inpainting images, guidance ...)."""
        return {}

    @torch.no_grad()
    def sample(self, model: Model, sample_config, on_step=None):
        pipe = self.pipeline(model, sample_config)
        pipe.set_progress_bar_config(disable=True)
        seed = int(sample_config.seed)
        if sample_config.random_seed:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        generator = torch.Generator(device="cpu").manual_seed(seed)
        steps = int(sample_config.diffusion_steps)

        def step_end(_pipe, i, _t, kwargs):
            if on_step is not None:
                on_step(i + 1, steps)
            return kwargs

        result = pipe(**self.prompt_kwargs(model, sample_config), num_inference_steps=steps,
                      **self.size_kwargs(sample_config), guidance_scale=float(sample_config.cfg_scale),
                      generator=generator, callback_on_step_end=step_end, **self.sample_kwargs(model, sample_config))
        return self.rendered(result)

    def rendered(self, result):
        """The sample of a pipeline call's output: its first image (a video family: the clip's frames)."""
        return result.images[0]

    # ---------------------------------------------------------------- saving
    def saved_scheduler(self, model: Model):
        """The scheduler a saved folder carries when the model has none of its own."""
        return None

    def save_diffusers(self, model: Model, path: str | Path, dtype: torch.dtype | None = None) -> None:
        extra = {}
        scheduler = None if "scheduler" in model.components else self.saved_scheduler(model)
        if scheduler is not None:
            extra["scheduler"] = scheduler
        diffusers_io.save_folder(model.components, path, self.pipeline_class(), dtype, extra)
