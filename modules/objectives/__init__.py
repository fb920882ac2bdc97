"""Training objectives shared by every family and the trainer: timesteps, noise, targets.

`ddpm` (ε / v on a beta schedule) and `flow` (flow matching with static or dynamic shift) each
turn latents, noise and timesteps into a `Prediction` the loss consumes. Neither families nor
the trainer own these: both import them.
"""
from . import ddpm, flow
from .noise import sample_noise
from .prediction import Prediction
from .timesteps import TimestepSampler

__all__ = ["ddpm", "flow", "Prediction", "TimestepSampler", "sample_noise"]
