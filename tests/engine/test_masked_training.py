"""Masked training works for every family: the pixel-sized masks become latent-sized loss weights."""
from __future__ import annotations

import math

import pytest

from engine.helpers import run_training


@pytest.mark.parametrize("model_type", ["CHROMA_1", "STABLE_DIFFUSION_3", "Z_IMAGE", "SANA", "FLUX_2", "QWEN", "ANIMA"])
def test_masked_training_runs_with_latent_sized_masks(make_config, model_type):
    cfg = make_config(model_type, epochs=1, masked_training=True, unmasked_weight=0.1)
    trainer = run_training(cfg)
    assert len(trainer.loss_history) == 2 and all(math.isfinite(loss) for _, loss in trainer.loss_history)
    batch = next(iter(trainer.dataset.epoch(0, 2)))
    inputs = trainer._prediction(batch, _sampler(trainer))[1]
    assert inputs.masks.shape[-2:] == batch.latents.shape[-2:]


def _sampler(trainer):
    from modules.objectives import TimestepSampler

    return TimestepSampler(trainer.config, trainer.family.num_train_timesteps(trainer.model))
