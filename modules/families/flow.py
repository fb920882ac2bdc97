"""The flow-matching objective for families: σ from the timestep, static or dynamic shift, velocity
target, sampled with the model's FlowMatchEulerDiscreteScheduler."""
from __future__ import annotations

from modules.objectives import Prediction, flow

from .base import Inputs, Model


class FlowMatchingObjective:
    """Mixin for a `DiffusersFamily` whose denoiser predicts the velocity noise − x₀."""

    # latent cells per token side (Flux packs 2×2 latent patches); used for the dynamic shift
    patch_size: int = 2

    def setup_objective(self, model: Model, config) -> None:
        model.extra["scheduler_config"] = dict(model["scheduler"].config)

    def num_train_timesteps(self, model: Model) -> int:
        return int(model.extra["scheduler_config"].get("num_train_timesteps", 1000))

    def model_timesteps(self, sigma, timesteps):
        """What the denoiser receives as its timestep input (most flow transformers: σ·1000 or σ)."""
        return sigma * 1000

    def shift(self, config, model: Model, latents) -> float:
        """The timestep shift of this batch: the scheduler's dynamic shift where the family reads
        `dynamic_timestep_shifting` and it is on, else `timestep_shift`. A family with its own
        resolution-aware schedule overrides this."""
        if "dynamic_timestep_shifting" in self.facts.reads:
            return flow.shift_for(config, model.extra["scheduler_config"], latents, self.patch_size)
        return float(config.timestep_shift)  # families without a dynamic shift (SD3) always use the static one

    def predict(self, model: Model, inputs: Inputs, config, generator, timestep_sampler,
                deterministic: bool = False) -> Prediction:
        latents = inputs.latents
        shift = self.shift(config, model, latents)
        timesteps = timestep_sampler.sample(latents.shape[0], generator, deterministic, shift=shift)
        sigma = flow.sigmas(timesteps, self.num_train_timesteps(model)).to(latents.device)
        noise, noisy = flow.noised(latents, config, generator, sigma)
        model_t = self.model_timesteps(sigma.to(latents.dtype), timesteps.to(latents.device))
        predicted = self.run_denoiser(model, self.denoiser_input(inputs, noisy), model_t, inputs, config)
        return flow.prediction(latents, noise, timesteps, sigma, predicted)
