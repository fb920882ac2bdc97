"""The discrete-time diffusion objective (spec §9.4): ε- or v-prediction on a DDPM noise schedule.

The training scheduler is built from the model's own scheduler config, with the config's switches
applied: zero-terminal-SNR rescaling (which implies v-prediction), forced v or ε.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .noise import sample_noise
from .prediction import Prediction

_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                  "steps_offset", "timestep_spacing")


def prediction_type(model_prediction_type: str, config) -> str:
    if config is None:
        return model_prediction_type
    if config.rescale_noise_scheduler_to_zero_terminal_snr or config.force_v_prediction:
        return "v_prediction"
    if config.force_epsilon_prediction:
        return "epsilon"
    return model_prediction_type


def training_scheduler(model_scheduler_config: Mapping, config):
    """A DDPMScheduler with the model's beta schedule and the config's prediction switches."""
    from diffusers import DDPMScheduler

    overrides = {"prediction_type": prediction_type(model_scheduler_config.get("prediction_type", "epsilon"), config)}
    if config is not None and config.rescale_noise_scheduler_to_zero_terminal_snr:
        overrides["rescale_betas_zero_snr"] = True
    base = {k: v for k, v in model_scheduler_config.items() if k in _SCHEDULE_KEYS}
    return DDPMScheduler.from_config({**base, **overrides})


def noised(scheduler, latents: torch.Tensor, config, generator: torch.Generator, timesteps: torch.Tensor):
    """(noise, noisy latents) at the given timesteps; offset noise follows the beta schedule."""
    noise = sample_noise(latents, config, generator, timesteps, scheduler.betas)
    return noise, scheduler.add_noise(latents, noise, timesteps)


def prediction(scheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
               predicted: torch.Tensor) -> Prediction:
    v_pred = scheduler.config.prediction_type == "v_prediction"
    target = scheduler.get_velocity(latents, noise, timesteps) if v_pred else noise
    ac = scheduler.alphas_cumprod[timesteps.cpu()]
    return Prediction(predicted=predicted, target=target, timesteps=timesteps, snr=ac / (1 - ac).clamp(min=1e-8),
                      v_prediction=v_pred)
