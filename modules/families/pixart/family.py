"""PixArt-α and PixArt-Σ: a DiT on 2×2 latent patches, conditioned on T5 states through
cross-attention and on the timestep through adaLN-single; DDPM with a learned variance (the
transformer outputs ε and the variance values, twice the latent channels). The ε half takes the
usual loss; `vb_loss_strength` adds the variational bound, which trains the variance half.

α-1024 also embeds the image resolution and aspect ratio (`use_additional_conditions`); the pipeline
feeds them only to a transformer of `sample_size` 128, and training feeds the same values: the
target size in pixels and height / width."""
from __future__ import annotations

import torch

from modules.objectives import ddpm
from modules.objectives.vb import variational_bound

from ..ddpm import DDPMObjective
from ..diffusers_family import DiffusersFamily
from .facts import FACTS

DEFAULT_T5_LENGTH = {"PIXART_ALPHA": 120, "PIXART_SIGMA": 300}  # the pipelines' max_sequence_length


class PixArtFamily(DDPMObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry these
        model.extra["pixart_text"] = {"length": self._t5_length(config), "skip": self._layer_skip(config),
                                      "mask": self._use_mask(config)}

    def _t5_length(self, config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None) if config is not None else None
        return int(length) if length else DEFAULT_T5_LENGTH[self.model_type.value]

    @staticmethod
    def _layer_skip(config) -> int:
        return int(getattr(config, "text_encoder_layer_skip", 0) or 0) if config is not None else 0

    @staticmethod
    def _use_mask(config) -> bool:
        return bool(config.transformer.attention_mask) if config is not None else False

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._t5_length(config), self._layer_skip(config), self._use_mask(config))

    def _encode(self, model, texts: list[str], length: int, skip: int, use_mask: bool) -> dict[str, torch.Tensor]:
        """{"t5": hidden states [B, L, D], "t5_mask": [B, L]}. With the attention mask the encoder
        ignores the padding and the transformer's cross-attention skips it; without it the padding is
        read like any other token and the mask is all ones."""
        encoder = model["text_encoder"]
        tokens = self.tokenizer_of(model, "text_encoder")(
            self.expanded(model, texts, "text_encoder"), padding="max_length", max_length=length, truncation=True,
            return_tensors="pt")
        mask = tokens.attention_mask.to(encoder.device)
        out = encoder(tokens.input_ids.to(encoder.device), attention_mask=mask if use_mask else None,
                      output_hidden_states=skip > 0)
        hidden = out.last_hidden_state if skip == 0 else out.hidden_states[-(1 + skip)]
        if not use_mask:
            mask = torch.ones_like(mask)
        return {"t5": hidden, "t5_mask": mask}

    # ---------------------------------------------------------------- training
    def _added_conditions(self, transformer, b: int, h: int, w: int, device) -> dict:
        if not transformer.config.use_additional_conditions:
            return {"resolution": None, "aspect_ratio": None}
        scale = self.latent_scale
        return {"resolution": torch.tensor([[h * scale, w * scale]] * b, dtype=torch.float32, device=device),
                "aspect_ratio": torch.tensor([[h / w]] * b, dtype=torch.float32, device=device)}

    def run_denoiser(self, model, x, timesteps, inputs, config):
        """The whole output: ε (or v) and the variance values, [B, 2C, h, w] for a learned-σ model."""
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        b, _, h, w = x.shape
        hidden = cond["t5"].to(x.device, dtype)
        mask = cond["t5_mask"].to(x.device) if "t5_mask" in cond else torch.ones(b, hidden.shape[1], device=x.device)
        return transformer(x.to(dtype), encoder_hidden_states=hidden, encoder_attention_mask=mask, timestep=timesteps,
                           added_cond_kwargs=self._added_conditions(transformer, b, h, w, x.device),
                           return_dict=False)[0]

    def predict(self, model, inputs, config, generator, timestep_sampler, deterministic: bool = False):
        scheduler = model.extra["train_scheduler"]
        latents = inputs.latents
        timesteps = timestep_sampler.sample(latents.shape[0], generator, deterministic).to(latents.device)
        noise, noisy = ddpm.noised(scheduler, latents, config, generator, timesteps)
        output = self.run_denoiser(model, self.denoiser_input(inputs, noisy), timesteps, inputs, config)
        channels = latents.shape[1]
        learned_variance = output.shape[1] == 2 * channels
        predicted, variance = output.split(channels, dim=1) if learned_variance else (output, None)
        prediction = ddpm.prediction(scheduler, latents, noise, timesteps, predicted)
        strength = float(getattr(config, "vb_loss_strength", 0.0) or 0.0)
        if learned_variance and strength > 0:
            bound = variational_bound(scheduler, latents, noisy, timesteps, predicted, variance,
                                      v_prediction=prediction.v_prediction)
            prediction.extra_loss = strength * bound
        return prediction

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training, with their masks."""
        text = model.extra.get("pixart_text", {"length": DEFAULT_T5_LENGTH[self.model_type.value], "skip": 0,
                                               "mask": False})
        dtype = model.dtype_of("transformer")
        kwargs = {"max_sequence_length": text["length"], "negative_prompt": None}
        for prefix, prompt in (("", sample_config.prompt), ("negative_", sample_config.negative_prompt or "")):
            encoded = self._encode(model, [prompt], text["length"], text["skip"], text["mask"])
            kwargs[f"{prefix}prompt_embeds"] = encoded["t5"].to(dtype)
            kwargs[f"{prefix}prompt_attention_mask"] = encoded["t5_mask"]
        return kwargs

    def sample(self, model, sample_config, on_step=None):
        # the PixArt pipelines report steps through `callback` (they ignore `callback_on_step_end`)
        self._on_step = on_step
        try:
            return super().sample(model, sample_config, on_step)
        finally:
            self._on_step = None

    def sample_kwargs(self, model, sample_config) -> dict:
        kwargs = {"use_resolution_binning": False, "clean_caption": False}
        on_step, steps = getattr(self, "_on_step", None), int(sample_config.diffusion_steps)
        if on_step is not None:
            kwargs.update(callback=lambda i, _t, _latents: on_step(i + 1, steps), callback_steps=1)
        return kwargs

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_pixart

        return build_tiny_pixart(self.model_type.value == "PIXART_ALPHA", out_dir, seed)


FAMILY = PixArtFamily
