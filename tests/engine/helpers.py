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


def train_measured(config, callbacks=None):
    """(trainer, deterministic loss before, after) of a full run."""
    from modules.engine import create_trainer

    trainer = create_trainer(config, callbacks)
    trainer.start()
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    return trainer, before, after


def losses(trainer) -> list[float]:
    return [loss for _, loss in trainer.loss_history]


def load_pipeline(pipeline_class: str, path):
    """A diffusers pipeline (by class name) from `path`, its progress bar off."""
    import diffusers

    pipe = getattr(diffusers, pipeline_class).from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe
