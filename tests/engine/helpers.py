"""Helpers for the engine tests."""
from __future__ import annotations

import torch


def run_training(config, callbacks=None, commands=None):
    """start + train + end; returns the trainer."""
    from modules.engine import create_trainer

    trainer = create_trainer(config, callbacks, commands)
    trainer.start()
    trainer.train()
    trainer.end()
    return trainer


def deterministic_loss(trainer) -> float:
    """Mean loss of the first epoch's batches at a fixed timestep and noise: comparable across steps."""
    from modules.objectives import TimestepSampler
    from modules.train.loss import compute_loss

    sampler = TimestepSampler(trainer.config, trainer.family.num_train_timesteps(trainer.model))
    losses = []
    with torch.no_grad():
        trainer.method.set_training(False)
        for batch in trainer.dataset.epoch(0, trainer.config.batch_size):
            prediction, _ = trainer._prediction(batch, sampler, deterministic=True)
            losses.append(float(compute_loss(prediction, trainer.config)))
    return sum(losses) / len(losses)
