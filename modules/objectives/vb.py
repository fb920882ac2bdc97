"""The variational-bound term of DDPM models that predict their variance (spec §9.5, learned σ).

The model's Gaussian p(x_{t−1} | x_t) has its mean from the *detached* ε (or v) prediction and its
log-variance interpolated between the clipped posterior log-variance and log β_t by the predicted
variance values v ∈ [−1, 1]: `frac·log β_t + (1 − frac)·log β̃_t`, `frac = (v + 1) / 2`. The term is
KL(q(x_{t−1} | x_t, x_0) ‖ p) in bits, and at t = 0 the negative log-likelihood of x_0 under the
model's Gaussian discretised to 256 levels in [−1, 1]. So it trains the variance output alone.
"""
from __future__ import annotations

import math

import torch

_LOG2 = math.log(2.0)


def _gather(values: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    out = values.to(like.device)[timesteps.to(like.device).long()].float()
    return out.view(-1, *([1] * (like.ndim - 1)))


def _normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2).square() * torch.exp(-logvar2))


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    # the tanh approximation of Φ
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _discretized_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x) of a Gaussian discretised into 256 bins over [−1, 1]; the edge bins extend to ±∞."""
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = _standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def variational_bound(scheduler, x0: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor,
                      model_output: torch.Tensor, variance: torch.Tensor, v_prediction: bool = False) -> torch.Tensor:
    """Per-sample VB term in bits [B] for a DDPM `scheduler` (its betas and ᾱ), clean latents `x0`,
    noisy latents at `timesteps`, the (detached) ε or v prediction and the raw variance output."""
    x0, noisy = x0.float(), noisy.float()
    output, variance = model_output.detach().float(), variance.float()
    betas = scheduler.betas.double()
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    posterior_variance = betas * (1.0 - previous) / (1.0 - alphas_cumprod)
    # the posterior variance is 0 at t = 0: its log is clipped to the value at t = 1
    posterior_log_variance = torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]]))
    coef_x0 = betas * previous.sqrt() / (1.0 - alphas_cumprod)
    coef_xt = (1.0 - previous) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod)

    ac = _gather(alphas_cumprod, timesteps, x0)
    if v_prediction:
        predicted_x0 = ac.sqrt() * noisy - (1.0 - ac).sqrt() * output
    else:
        predicted_x0 = (noisy - (1.0 - ac).sqrt() * output) / ac.sqrt()
    c0, ct = _gather(coef_x0, timesteps, x0), _gather(coef_xt, timesteps, x0)
    true_mean, model_mean = c0 * x0 + ct * noisy, c0 * predicted_x0 + ct * noisy
    min_log = _gather(posterior_log_variance, timesteps, x0)
    max_log = _gather(torch.log(betas), timesteps, x0)
    frac = (variance + 1.0) / 2.0
    model_log_variance = frac * max_log + (1.0 - frac) * min_log

    dims = tuple(range(1, x0.ndim))
    kl = _normal_kl(true_mean, min_log, model_mean, model_log_variance).mean(dim=dims) / _LOG2
    nll = -_discretized_log_likelihood(x0, model_mean, 0.5 * model_log_variance).mean(dim=dims) / _LOG2
    return torch.where(timesteps.to(kl.device) == 0, nll, kl)
