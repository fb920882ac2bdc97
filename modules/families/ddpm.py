"""The DDPM objective for families: ε / v prediction on the model's beta schedule, sampled with the
scheduler the sample config names."""
from __future__ import annotations

from modules.objectives import Prediction, ddpm

from .base import Inputs, Model
from .parts.sample_schedulers import create_sample_scheduler


class DDPMObjective:
    """Mixin for a `DiffusersFamily` whose denoiser predicts ε or v."""

    def setup_objective(self, model: Model, config) -> None:
        model.extra["train_scheduler"] = ddpm.training_scheduler(model["scheduler"].config, config)

    def num_train_timesteps(self, model: Model) -> int:
        return model.extra["train_scheduler"].config.num_train_timesteps

    def predict(self, model: Model, inputs: Inputs, config, generator, timestep_sampler,
                deterministic: bool = False) -> Prediction:
        scheduler = model.extra["train_scheduler"]
        latents = inputs.latents
        timesteps = timestep_sampler.sample(latents.shape[0], generator, deterministic).to(latents.device)
        noise, noisy = ddpm.noised(scheduler, latents, config, generator, timesteps)
        predicted = self.run_denoiser(model, self.denoiser_input(inputs, noisy), timesteps, inputs, config)
        return ddpm.prediction(scheduler, latents, noise, timesteps, predicted)

    def sampling_scheduler(self, model: Model, sample_config):
        train = model.extra["train_scheduler"].config
        zero_snr = bool(train.rescale_betas_zero_snr)
        return create_sample_scheduler(sample_config.noise_scheduler, model["scheduler"].config,
                                       prediction_type=train.prediction_type, rescale_betas_zero_snr=zero_snr,
                                       **({"timestep_spacing": "trailing"} if zero_snr else {}))

    def saved_scheduler(self, model: Model):
        from diffusers import DDIMScheduler

        return DDIMScheduler.from_config(model.extra["train_scheduler"].config)
