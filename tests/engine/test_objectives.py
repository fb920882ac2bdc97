"""The shared objectives: timestep shift per batch, flow-matching σ, shift, noising and target."""
from __future__ import annotations

import math

import torch

from modules.config.train_config import TrainConfig
from modules.objectives import TimestepSampler, flow


def _config(**fields):
    cfg = TrainConfig.default_values()
    for key, value in fields.items():
        setattr(cfg, key, value)
    return cfg


def _mean_timestep(sampler, shift):
    return sampler.sample(4000, torch.Generator().manual_seed(0), shift=shift).double().mean().item()


def test_weighted_distribution_follows_the_shift_of_each_batch():
    sampler = TimestepSampler(_config(timestep_distribution="COS_MAP"), 1000)
    low, high = _mean_timestep(sampler, 1.0), _mean_timestep(sampler, 3.0)
    assert high > low + 100  # a larger shift moves the draws to noisier timesteps
    assert abs(_mean_timestep(sampler, 1.0) - low) < 1e-9  # and the first shift's draws are unchanged


def test_continuous_distribution_follows_the_shift_argument():
    sampler = TimestepSampler(_config(timestep_distribution="LOGIT_NORMAL"), 1000)
    assert _mean_timestep(sampler, 3.0) > _mean_timestep(sampler, 1.0) + 100


def test_sigma_is_t_plus_one_over_T():
    assert torch.allclose(flow.sigmas(torch.tensor([0, 499, 999]), 1000), torch.tensor([0.001, 0.5, 1.0]))
    # computed in float32, every σ is the float64 quotient rounded to float32 (no precision lost)
    for T in (1000, 1024, 999):
        t = torch.arange(T)
        assert torch.equal(flow.sigmas(t, T), ((t.double() + 1) / T).float())


def test_uniform_timesteps_are_the_clamped_scaled_draws():
    for low, high in ((0.0, 1.0), (0.3, 0.6), (0.999, 1.0), (1.0, 1.0)):
        sampler = TimestepSampler(_config(min_noising_strength=low, max_noising_strength=high), 1000)
        for seed in range(4):
            u = torch.rand(4096, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            expected = (sampler.t_min + max(sampler.t_max - sampler.t_min, 1) * u).long().clamp(0, 999)
            assert torch.equal(sampler.sample(4096, torch.Generator().manual_seed(seed)), expected)


def test_dynamic_shift_grows_with_the_token_count():
    scheduler = {"base_shift": 0.5, "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096}
    assert math.isclose(flow.dynamic_shift(scheduler, 32, 32), math.exp(0.5))  # 16·16 = 256 tokens
    assert math.isclose(flow.dynamic_shift(scheduler, 128, 128), math.exp(1.15))  # 64·64 = 4096 tokens
    latents = torch.zeros(1, 16, 128, 128)
    assert flow.shift_for(_config(dynamic_timestep_shifting=True), scheduler, latents) == \
        flow.dynamic_shift(scheduler, 128, 128)
    assert flow.shift_for(_config(dynamic_timestep_shifting=False, timestep_shift=2.5), scheduler, latents) == 2.5


def test_flow_noising_interpolates_and_targets_the_velocity():
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([0.0, 1.0], dtype=torch.float64)
    noise, noisy = flow.noised(latents, _config(), torch.Generator().manual_seed(2), sigma)
    assert torch.allclose(noisy[0], latents[0]) and torch.allclose(noisy[1], noise[1])
    prediction = flow.prediction(latents, noise, torch.tensor([0, 999]), sigma, predicted=noise - latents)
    assert prediction.flow_matching and torch.equal(prediction.target, noise - latents)


def test_tiny_t5_encodes_with_and_without_an_attention_mask():
    from modules.families.parts import t5

    tokenizer = t5.tiny_tokenizer()
    encoder = t5.tiny_encoder(tokenizer)
    with torch.no_grad():
        masked, mask = t5.encode(encoder, tokenizer, ["ab", "a longer prompt"], 16, use_mask=True)
        plain, _ = t5.encode(encoder, tokenizer, ["ab", "a longer prompt"], 16)
    assert masked.shape == (2, 16, 32) and mask.shape == (2, 16)
    assert mask[0].sum() < mask[1].sum()
    assert torch.count_nonzero(masked[0, int(mask[0].sum()):]) == 0  # padding is zeroed with the mask
    assert not torch.allclose(masked[0, :2], plain[0, :2])  # and attended to without it
