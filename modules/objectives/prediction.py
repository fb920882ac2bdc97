"""What an objective hands to the loss: the model output, what it should have been, and the noise level."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Prediction:
    predicted: torch.Tensor
    target: torch.Tensor
    timesteps: torch.Tensor
    snr: torch.Tensor | None = None  # DDPM objectives: ᾱ/(1−ᾱ) per sample
    sigma: torch.Tensor | None = None  # flow matching: the noise level σ per sample
    v_prediction: bool = False
    flow_matching: bool = False
    # per-sample loss terms the objective adds to the weighted element losses, already scaled by their
    # strength [B] (the variational bound of models that predict their variance)
    extra_loss: torch.Tensor | None = None
