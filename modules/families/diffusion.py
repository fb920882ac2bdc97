"""Shared behaviour of the discrete-time (DDPM, ε / v) UNet families: SD 1.x/2.x and SDXL."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch

from modules.config.enums import ModelType
from modules.train.loss import Prediction
from modules.train.noise import sample_noise

from .base import Inputs, Model, ModelFamily
from .schedulers import create_sample_scheduler
from .sources import local_model_path, offline


def is_backup_dir(path: str | Path) -> bool:
    return (Path(path) / "meta.json").is_file()


def weight_dtype(part_config, default=torch.float32) -> torch.dtype:
    dtype = part_config.weight_dtype.torch_dtype() if part_config is not None else None
    return dtype or default


class LatentDiffusionFamily(ModelFamily):
    denoiser = "unet"
    pipeline_class = "StableDiffusionPipeline"

    # ---------------------------------------------------------------- loading
    def resolve_source(self, source: str) -> str:
        """A backup of a fine-tune holds the diffusers folder itself."""
        return str(source)

    def load(self, source: str, config, *, config_dir: str | None = None) -> Model:
        source = local_model_path(self.resolve_source(source), config)
        if os.path.isfile(source):
            components = self._load_single_file(source, config_dir, config)
        else:
            components = self._load_folder(source, config)
        vae_override = getattr(getattr(config, "vae", None), "model_name", "") if config is not None else ""
        if vae_override:
            from diffusers import AutoencoderKL

            vae_override = local_model_path(vae_override, config)
            sub = "vae" if (Path(vae_override) / "vae").is_dir() else None
            components["vae"] = AutoencoderKL.from_pretrained(vae_override, subfolder=sub)
        for module in components.values():
            if isinstance(module, torch.nn.Module):
                module.requires_grad_(False)
                module.eval()
        model = Model(model_type=self.model_type, components=components, source=source)
        if config is not None:
            for part in (self.denoiser, *self.text_encoders, "vae"):
                if part in components:
                    components[part].to(dtype=weight_dtype(getattr(config, part, None)))
        model.extra["train_scheduler"] = self.training_scheduler(model, config)
        return model

    def _load_folder(self, path: str, config) -> dict:
        import diffusers
        import transformers

        index = json.loads((Path(path) / "model_index.json").read_text())
        components = {}
        for name, spec in index.items():
            if name.startswith("_") or not isinstance(spec, list) or spec[1] is None:
                continue
            if config is not None and name.startswith("text_encoder") and not getattr(config, name).include:
                continue
            library, cls_name = spec
            module = diffusers if library == "diffusers" else transformers
            cls = getattr(module, cls_name, None)
            if cls is None or not (Path(path) / name).is_dir():
                continue
            components[name] = cls.from_pretrained(path, subfolder=name)
        return components

    def _load_single_file(self, path: str, config_dir: str | None, config) -> dict:
        from modules.formats.single_file import (
            SingleFileConfigError,
            find_config_dir,
            load_single_file,
            missing_config_message,
        )

        config_dir = config_dir or find_config_dir(path, self.model_type)
        if config_dir is None and offline(config):
            raise SingleFileConfigError(missing_config_message(path, self.model_type))
        extra = {} if self.model_type.is_stable_diffusion_xl() else \
            {"safety_checker": None, "requires_safety_checker": False}
        pipe = load_single_file(path, self.model_type, config_dir, **extra)
        return {k: v for k, v in pipe.components.items() if v is not None}

    # ---------------------------------------------------------------- noise schedule
    def prediction_type(self, model: Model, config) -> str:
        base = model["scheduler"].config.get("prediction_type", "epsilon")
        if config is None:
            return base
        if config.rescale_noise_scheduler_to_zero_terminal_snr or config.force_v_prediction:
            return "v_prediction"
        if config.force_epsilon_prediction:
            return "epsilon"
        return base

    def training_scheduler(self, model: Model, config):
        from diffusers import DDPMScheduler

        overrides = {"prediction_type": self.prediction_type(model, config)}
        if config is not None and config.rescale_noise_scheduler_to_zero_terminal_snr:
            overrides["rescale_betas_zero_snr"] = True
        keep = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                "steps_offset", "timestep_spacing")
        base = {k: v for k, v in model["scheduler"].config.items() if k in keep}
        return DDPMScheduler.from_config({**base, **overrides})

    def num_train_timesteps(self, model: Model) -> int:
        return model.extra["train_scheduler"].config.num_train_timesteps

    # ---------------------------------------------------------------- encoding
    @property
    def vae_dtype(self):
        return torch.float32

    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        with torch.no_grad():
            dist = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
        return dist.mean * vae.config.scaling_factor

    def clip_hidden(self, encoder, ids: torch.Tensor, layer_skip: int, final_norm: bool = True):
        out = encoder(ids.to(encoder.device), output_hidden_states=True)
        if layer_skip <= 0 and final_norm:
            return out
        hidden = out.hidden_states[-(1 + layer_skip)]
        if final_norm:
            hidden = encoder.text_model.final_layer_norm(hidden) if hasattr(encoder, "text_model") \
                else encoder.final_layer_norm(hidden)
        return out, hidden

    def tokenize(self, tokenizer, texts: list[str], length: int | None = None) -> torch.Tensor:
        length = min(length or tokenizer.model_max_length, tokenizer.model_max_length)
        return tokenizer(texts, padding="max_length", max_length=length, truncation=True,
                         return_tensors="pt").input_ids

    # ---------------------------------------------------------------- extra inputs (inpainting, depth)
    @property
    def has_mask_input(self) -> bool:
        return self.model_type.has_mask_input()

    @property
    def has_depth_input(self) -> bool:
        return self.model_type.has_depth_input()

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None) -> Inputs:
        inputs = Inputs(latents=latents, conditioning=conditioning, pixels=pixels, masks=masks)
        size = latents.shape[-2:]
        if self.has_mask_input:
            if masks is None:
                masks = torch.ones(latents.shape[0], 1, *latents.shape[-2:])
            mask_pixels = masks if pixels is None or masks.shape[-2:] == pixels.shape[-2:] else \
                torch.nn.functional.interpolate(masks.float(), size=pixels.shape[-2:], mode="nearest")
            latent_mask = torch.nn.functional.interpolate(masks.float(), size=size, mode="nearest")
            if pixels is not None:
                conditioning_latents = self.encode_images(model, pixels * (1 - mask_pixels.to(pixels)))
            else:
                conditioning_latents = torch.zeros_like(latents)
            inputs.masks = latent_mask
            inputs.extras = {"mask": latent_mask.to(latents), "masked_latents": conditioning_latents.to(latents)}
        elif masks is not None:
            inputs.masks = torch.nn.functional.interpolate(masks.float(), size=size, mode="nearest")
        if self.has_depth_input:
            inputs.extras = {"depth": self.depth_input(model, pixels, size).to(latents)}
        return inputs

    def depth_input(self, model: Model, pixels: torch.Tensor | None, size) -> torch.Tensor:
        """Depth map at latent size scaled to [-1, 1]: from the model's depth estimator when it ships one,
        else the image's luminance (a stand-in that keeps tiny test models self-contained)."""
        if pixels is None:
            return torch.zeros(1, 1, *size)
        estimator = model.get("depth_estimator")
        with torch.no_grad():
            if estimator is not None:
                depth = estimator(pixel_values=pixels.to(estimator.device, estimator.dtype)).predicted_depth[:, None]
            else:
                depth = (0.299 * pixels[:, :1] + 0.587 * pixels[:, 1:2] + 0.114 * pixels[:, 2:3] + 1) / 2
        depth = torch.nn.functional.interpolate(depth.float(), size=size, mode="bicubic", align_corners=False)
        lo = depth.amin(dim=(1, 2, 3), keepdim=True)
        hi = depth.amax(dim=(1, 2, 3), keepdim=True)
        return 2.0 * (depth - lo) / (hi - lo).clamp(min=1e-6) - 1.0

    def denoiser_input(self, inputs: Inputs, noisy: torch.Tensor) -> torch.Tensor:
        if "masked_latents" in inputs.extras:
            return torch.cat([noisy, inputs.extras["mask"], inputs.extras["masked_latents"]], dim=1)
        if "depth" in inputs.extras:
            return torch.cat([noisy, inputs.extras["depth"]], dim=1)
        return noisy

    # ---------------------------------------------------------------- training
    def run_denoiser(self, model: Model, x: torch.Tensor, timesteps: torch.Tensor, inputs: Inputs, config):
        raise NotImplementedError

    def predict(self, model, inputs, config, generator, timestep_sampler, deterministic=False) -> Prediction:
        scheduler = model.extra["train_scheduler"]
        latents = inputs.latents
        timesteps = timestep_sampler.sample(latents.shape[0], generator, deterministic).to(latents.device)
        noise = sample_noise(latents, config, generator, timesteps, scheduler.betas)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        predicted = self.run_denoiser(model, self.denoiser_input(inputs, noisy), timesteps, inputs, config)
        v_pred = scheduler.config.prediction_type == "v_prediction"
        target = scheduler.get_velocity(latents, noise, timesteps) if v_pred else noise
        ac = scheduler.alphas_cumprod[timesteps.cpu()]
        return Prediction(predicted=predicted, target=target, timesteps=timesteps, snr=ac / (1 - ac).clamp(min=1e-8),
                          v_prediction=v_pred)

    # ---------------------------------------------------------------- sampling
    def pipeline(self, model: Model, sample_config):
        import diffusers

        cls = getattr(diffusers, self.pipeline_class)
        train = model.extra["train_scheduler"].config
        scheduler = create_sample_scheduler(sample_config.noise_scheduler, model["scheduler"].config,
                                            prediction_type=train.prediction_type,
                                            rescale_betas_zero_snr=train.rescale_betas_zero_snr,
                                            **({"timestep_spacing": "trailing"} if train.rescale_betas_zero_snr else {}))
        names, options = cls._get_signature_keys(cls)
        parts = {k: v for k, v in model.components.items() if k in names and k != "scheduler"}
        optional = {k: None for k in names if k not in parts and k != "scheduler"}
        extra = {k: False for k in ("requires_safety_checker", "add_watermarker") if k in options}
        return cls(**parts, **optional, scheduler=scheduler, **extra)

    def sample_kwargs(self, model: Model, sample_config) -> dict:
        from PIL import Image

        width, height = int(sample_config.width), int(sample_config.height)
        kwargs = {}
        if self.has_mask_input:
            if sample_config.sample_inpainting and sample_config.base_image_path:
                image = Image.open(sample_config.base_image_path).convert("RGB").resize((width, height))
                mask = Image.open(sample_config.mask_image_path).convert("L").resize((width, height)) \
                    if sample_config.mask_image_path else Image.new("L", (width, height), 255)
            else:
                image, mask = Image.new("RGB", (width, height), (127, 127, 127)), Image.new("L", (width, height), 255)
            kwargs.update(image=image, mask_image=mask, strength=1.0)
        return kwargs

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

        prompt = model.extra.get("expand_prompt", lambda s: s)(sample_config.prompt)
        negative = model.extra.get("expand_prompt", lambda s: s)(sample_config.negative_prompt or "")
        result = pipe(prompt=prompt, negative_prompt=negative or None, num_inference_steps=steps,
                      **self.pipeline_size_kwargs(sample_config),
                      guidance_scale=float(sample_config.cfg_scale), generator=generator,
                      callback_on_step_end=step_end, clip_skip=int(sample_config.text_encoder_1_layer_skip) or None,
                      **self.sample_kwargs(model, sample_config))
        return result.images[0]

    def pipeline_size_kwargs(self, sample_config) -> dict:
        return {"width": int(sample_config.width), "height": int(sample_config.height)}

    # ---------------------------------------------------------------- saving
    def save_diffusers(self, model: Model, path, dtype=None) -> None:
        from diffusers import DDIMScheduler

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = {"_class_name": self.pipeline_class, "_diffusers_version": _diffusers_version()}
        for name, comp in model.components.items():
            target = path / name
            if isinstance(comp, torch.nn.Module):
                if dtype is not None and next(comp.parameters()).dtype != dtype:
                    comp = copy.deepcopy(comp).to(dtype)
                comp.save_pretrained(target, safe_serialization=True)
            elif hasattr(comp, "save_pretrained"):
                comp.save_pretrained(target)
            else:
                continue
            index[name] = [_library_of(comp), type(comp).__name__]
        if "scheduler" not in model.components:
            DDIMScheduler.from_config(model.extra["train_scheduler"].config).save_pretrained(path / "scheduler")
        (path / "model_index.json").write_text(json.dumps(index, indent=2))


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def _library_of(obj) -> str:
    return type(obj).__module__.split(".")[0]


def model_type_of(value) -> ModelType:
    return ModelType(value)
