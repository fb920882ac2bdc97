"""Training loss (spec §9.5): weighted MSE / L1 / log-cosh / Huber terms, masks, timestep weights."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modules.config.enums import LossScaler, LossWeight
from modules.objectives import Prediction

from .distributed import current_world


def _per_sample(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=tuple(range(1, x.ndim)))


def _frames_aligned(mask: torch.Tensor, elements: torch.Tensor) -> torch.Tensor:
    """A [B, 1, h, w] image mask for [B, C, F, h, w] (video-shaped) latents: the same mask for every frame."""
    while mask.ndim < elements.ndim:
        mask = mask.unsqueeze(2)
    return mask


def _element_terms(pred: torch.Tensor, target: torch.Tensor, config) -> torch.Tensor:
    diff = pred - target
    terms = []
    if config.mse_strength:
        terms.append(_weighted(config.mse_strength, diff.square()))
    if config.mae_strength:
        terms.append(_weighted(config.mae_strength, diff.abs()))
    if config.log_cosh_strength:
        terms.append(_weighted(config.log_cosh_strength, diff + F.softplus(-2 * diff) - math.log(2)))
    if config.huber_strength:
        terms.append(_weighted(config.huber_strength,
                               F.huber_loss(pred, target, reduction="none", delta=config.huber_delta)))
    if not terms:
        return torch.zeros_like(diff)
    total = terms[0]  # the same values as summing onto zeros, without the zeros and a full-size add a step
    for term in terms[1:]:
        total = total + term
    return total


def _plain_mse(config) -> bool:
    return config.mse_strength == 1 and not (config.mae_strength or config.log_cosh_strength
                                             or config.huber_strength)


def _weighted(strength: float, term: torch.Tensor) -> torch.Tensor:
    return term if strength == 1 else strength * term  # a strength of 1 changes nothing: no full-size multiply


def timestep_weight(prediction: Prediction, config) -> torch.Tensor | None:
    """Per-sample loss weights by timestep; None for the constant weight (nothing to multiply)."""
    fn = LossWeight(config.loss_weight_fn)
    if fn == LossWeight.CONSTANT:
        return None
    if prediction.flow_matching != (fn == LossWeight.SIGMA):
        raise ValueError(f"loss weight {fn.value} is not available for this model")
    if fn == LossWeight.SIGMA:
        return prediction.sigma.float().cpu()
    snr = prediction.snr.float().cpu()
    v = 1.0 if prediction.v_prediction else 0.0
    gamma = config.loss_weight_strength
    if fn == LossWeight.MIN_SNR_GAMMA:
        return torch.minimum(snr, torch.full_like(snr, gamma)) / (snr + v)
    if fn == LossWeight.DEBIASED_ESTIMATION:
        return 1 / torch.sqrt(snr.clamp(max=1000) + v)
    return (1 + snr + v) ** (-gamma)  # P2


def compute_loss(prediction: Prediction, config, *, mask: torch.Tensor | None = None,
                 concept_weights: torch.Tensor | None = None, prior: torch.Tensor | None = None,
                 masked: bool = False) -> torch.Tensor:
    """Mean loss of the batch, before division by the accumulation steps."""
    pred, target = prediction.predicted.float(), prediction.target.float()
    # factors of 1 (the defaults) are left out: each multiply would cost an op and its backward every step
    scaler = LossScaler(config.loss_scaler)
    scale = 1 if scaler is LossScaler.NONE else scaler.get_scale(config.batch_size, config.gradient_accumulation_steps,
                                                                current_world().size)
    weight = timestep_weight(prediction, config)
    weighted_concepts = concept_weights is not None and any(w != 1 for w in concept_weights.tolist())
    if _plain_mse(config) and not (masked and mask is not None) and prediction.extra_loss is None \
            and scale == 1 and weight is None and not weighted_concepts:
        # the default loss: one fused op and its backward instead of five (the mean of equal-sized
        # samples' means is the mean of all elements)
        return F.mse_loss(pred, target)
    elements = _element_terms(pred, target, config)
    if masked and mask is not None:
        m = _frames_aligned(mask, elements).float().clamp(config.unmasked_weight, 1)
        losses = _per_sample(elements * m)
        if config.normalize_masked_area_loss:
            losses = losses / _per_sample(m)
        if prior is not None and config.masked_prior_preservation_weight > 0:
            inverse = 1 - m
            prior_loss = _per_sample(_element_terms(pred, prior.float(), config) * inverse)
            if config.normalize_masked_area_loss:
                prior_loss = prior_loss / _per_sample(inverse).clamp(min=1e-8)
            losses = losses + config.masked_prior_preservation_weight * prior_loss
    else:
        losses = _per_sample(elements)
    if prediction.extra_loss is not None:
        losses = losses + prediction.extra_loss.to(losses.device, losses.dtype)
    if scale != 1:
        losses = losses * scale
    if weight is not None:
        losses = losses * weight.to(losses.device)
    if weighted_concepts:
        losses = losses * concept_weights.to(losses.device, losses.dtype)
    return losses.mean()
