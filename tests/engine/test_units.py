"""Interval rules, timestep distributions, loss terms and weights, commands: no models needed."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from modules.config.enums import LossWeight, TimestepDistribution, TimeUnit
from modules.config.train_config import TrainConfig
from modules.objectives import Prediction, TimestepSampler, sample_noise
from modules.train.commands import TrainCommands
from modules.train.loss import compute_loss
from modules.train.progress import TrainProgress
from modules.train.timing import IntervalClock


def test_step_and_epoch_intervals():
    clock = IntervalClock()
    fired = [s for s in range(10) if clock.repeating("x", 3, TimeUnit.STEP, TrainProgress(global_step=s), False)]
    assert fired == [2, 5, 8]
    fired = [s for s in range(7) if clock.repeating("y", 3, TimeUnit.STEP, TrainProgress(global_step=s), True)]
    assert fired == [0, 3, 6]
    assert clock.repeating("e", 2, TimeUnit.EPOCH, TrainProgress(epoch=2), False)
    assert not clock.repeating("e", 2, TimeUnit.EPOCH, TrainProgress(epoch=0), False)
    assert clock.repeating("e", 2, TimeUnit.EPOCH, TrainProgress(epoch=0), True)
    assert not clock.repeating("e", 2, TimeUnit.EPOCH, TrainProgress(epoch=2, epoch_step=1), True)
    assert not clock.repeating("n", 1, TimeUnit.NEVER, TrainProgress(), True)
    assert clock.repeating("a", 1, TimeUnit.ALWAYS, TrainProgress(), False)


def test_time_intervals_and_delays():
    now = [1000.0]
    clock = IntervalClock(clock=lambda: now[0])
    assert clock.repeating("s", 1, TimeUnit.MINUTE, TrainProgress(), True)  # first check fires
    assert not clock.repeating("b", 1, TimeUnit.MINUTE, TrainProgress(), False)  # first check only records
    now[0] += 61
    assert clock.repeating("b", 1, TimeUnit.MINUTE, TrainProgress(), False)
    assert clock.elapsed(1, TimeUnit.MINUTE, TrainProgress())
    assert not clock.elapsed(2, TimeUnit.STEP, TrainProgress(global_step=1))
    assert clock.elapsed(2, TimeUnit.STEP, TrainProgress(global_step=2))
    assert clock.elapsed(1, TimeUnit.EPOCH, TrainProgress(epoch=1))


@pytest.mark.parametrize("distribution", list(TimestepDistribution))
def test_every_timestep_distribution_stays_in_range(distribution):
    cfg = TrainConfig.default_values()
    cfg.timestep_distribution = distribution
    cfg.noising_weight, cfg.noising_bias = 2.0, 0.5
    cfg.min_noising_strength, cfg.max_noising_strength = 0.1, 0.9
    sampler = TimestepSampler(cfg, 1000)
    t = sampler.sample(512, torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.min() >= 100 and t.max() < 1000
    again = sampler.sample(512, torch.Generator().manual_seed(0))
    if distribution != TimestepDistribution.BETA:  # Beta draws are not seeded by the batch generator
        assert torch.equal(t, again)


def test_shift_moves_timesteps_up():
    cfg = TrainConfig.default_values()
    plain = TimestepSampler(cfg, 1000).sample(2000, torch.Generator().manual_seed(0)).float().mean()
    cfg.timestep_shift = 3.0
    shifted = TimestepSampler(cfg, 1000).sample(2000, torch.Generator().manual_seed(0)).float().mean()
    assert shifted > plain + 100
    assert TimestepSampler(cfg, 1000).sample(3, torch.Generator(), deterministic=True).tolist() == [499] * 3


def test_offset_and_perturbation_noise():
    cfg = TrainConfig.default_values()
    latents = torch.zeros(4, 4, 8, 8)
    plain = sample_noise(latents, cfg, torch.Generator().manual_seed(0))
    cfg.offset_noise_weight = 1.0
    offset = sample_noise(latents, cfg, torch.Generator().manual_seed(0))
    per_channel_shift = (offset - plain).flatten(2)
    assert torch.allclose(per_channel_shift.std(-1), torch.zeros(4, 4), atol=1e-6)  # constant per channel
    assert per_channel_shift.abs().mean() > 0.1


def _prediction(pred, target, snr=None, v=False, flow=False, sigma=None):
    return Prediction(predicted=pred, target=target, timesteps=torch.zeros(pred.shape[0], dtype=torch.long),
                      snr=snr, v_prediction=v, flow_matching=flow, sigma=sigma)


def test_loss_terms_and_strengths():
    cfg = TrainConfig.default_values()
    pred, target = torch.full((2, 1, 2, 2), 2.0), torch.zeros(2, 1, 2, 2)
    assert float(compute_loss(_prediction(pred, target), cfg)) == pytest.approx(4.0)
    cfg.mse_strength, cfg.mae_strength = 0.0, 1.0
    assert float(compute_loss(_prediction(pred, target), cfg)) == pytest.approx(2.0)
    cfg.mae_strength, cfg.log_cosh_strength = 0.0, 1.0
    assert float(compute_loss(_prediction(pred, target), cfg)) == pytest.approx(math.log(math.cosh(2.0)), rel=1e-5)
    cfg.log_cosh_strength, cfg.huber_strength, cfg.huber_delta = 0.0, 1.0, 1.0
    assert float(compute_loss(_prediction(pred, target), cfg)) == pytest.approx(1.5)


def test_the_default_loss_is_the_mse_of_the_general_path_with_its_gradient():
    cfg = TrainConfig.default_values()
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 4, 5, 6, generator=generator, requires_grad=True)
    target = torch.randn(3, 4, 5, 6, generator=generator)
    fast = compute_loss(_prediction(pred, target), cfg)
    (fast_grad,) = torch.autograd.grad(fast, pred)
    cfg.mae_strength = 1e-30  # any second term takes the general path: per-sample means, then their mean
    general = compute_loss(_prediction(pred, target), cfg)
    (general_grad,) = torch.autograd.grad(general, pred)
    assert float(fast) == pytest.approx(float(general), rel=1e-6)
    assert torch.allclose(fast_grad, general_grad, rtol=1e-5, atol=1e-8)
    assert fast.grad_fn.name() == "MseLossBackward0"  # one op and its backward, not five


def test_masked_loss_and_concept_weights():
    cfg = TrainConfig.default_values()
    cfg.unmasked_weight = 0.0
    pred, target = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert float(compute_loss(_prediction(pred, target), cfg, mask=mask, masked=True)) == pytest.approx(0.25)
    cfg.normalize_masked_area_loss = True
    assert float(compute_loss(_prediction(pred, target), cfg, mask=mask, masked=True)) == pytest.approx(1.0)
    weighted = compute_loss(_prediction(pred, target), cfg, concept_weights=torch.tensor([3.0]))
    assert float(weighted) == pytest.approx(3.0)


def test_timestep_loss_weights():
    cfg = TrainConfig.default_values()
    pred, target = torch.ones(2, 1, 1, 1), torch.zeros(2, 1, 1, 1)
    snr = torch.tensor([1.0, 10.0])
    cfg.loss_weight_fn, cfg.loss_weight_strength = LossWeight.MIN_SNR_GAMMA, 5.0
    loss = compute_loss(_prediction(pred, target, snr=snr), cfg)
    assert float(loss) == pytest.approx((1.0 + 0.5) / 2)
    loss_v = compute_loss(_prediction(pred, target, snr=snr, v=True), cfg)
    assert float(loss_v) == pytest.approx((0.5 + 5 / 11) / 2)
    cfg.loss_weight_fn = LossWeight.DEBIASED_ESTIMATION
    assert float(compute_loss(_prediction(pred, target, snr=snr), cfg)) == pytest.approx((1 + 10 ** -0.5) / 2)
    cfg.loss_weight_fn, cfg.loss_weight_strength = LossWeight.P2, 1.0
    assert float(compute_loss(_prediction(pred, target, snr=snr), cfg)) == pytest.approx((0.5 + 1 / 11) / 2)
    cfg.loss_weight_fn = LossWeight.SIGMA
    with pytest.raises(ValueError):
        compute_loss(_prediction(pred, target, snr=snr), cfg)


def test_commands_are_thread_safe_and_stop_is_sticky():
    commands = TrainCommands()
    threads = [threading.Thread(target=commands.sample_custom, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(commands.get_and_reset_sample_custom_commands()) == list(range(50))
    commands.backup()
    commands.stop()
    commands.reset()
    assert commands.get_stop_command() and not commands.get_and_reset_backup_command()
    other = TrainCommands()
    other.save()
    commands.merge(other)
    assert commands.get_and_reset_save_command() and not commands.get_and_reset_save_command()


def test_progress_filename_and_round_trip():
    progress = TrainProgress()
    progress.next_step(2)
    progress.next_step(2)
    progress.next_epoch()
    progress.next_step(2)
    assert progress.filename_string() == "3-1-1"
    assert TrainProgress.from_dict(progress.to_dict()) == progress


def test_dtype_of_follows_casts_replaced_weights_and_parts_and_holds_no_part():
    import gc
    import weakref

    from modules.families.base import Model

    net = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model = Model(model_type="X", components={"net": net})
    assert model.dtype_of("net") == torch.float32
    net.to(torch.bfloat16)  # a cast keeps the parameter objects
    assert model.dtype_of("net") == torch.bfloat16
    net[1].weight = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float16))  # a replaced weight
    assert model.dtype_of("net") == torch.float16
    del net[1].weight  # gone from its module: the next floating weight (its bias) answers
    assert model.dtype_of("net") == torch.bfloat16
    model.components["net"] = torch.nn.Linear(2, 2).to(torch.float64)  # a replaced part
    assert model.dtype_of("net") == torch.float64
    dropped = weakref.ref(model.components.pop("net"))
    gc.collect()
    assert dropped() is None  # the remembered slot does not keep a dropped part alive
