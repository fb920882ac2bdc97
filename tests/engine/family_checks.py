"""Whole-run checks shared by the family tests: resume from a backup, LoRA on an INT_8 transformer, the tiny
model CLI."""
from __future__ import annotations

import pytest

from engine.helpers import losses, run_training, train_measured


def check_resume_repeats_the_losses(config):
    """`config(workspace, **fields)`: a run stopped after three steps with a backup, then continued from it,
    repeats the losses of an uninterrupted run."""
    from modules.train import TrainCallbacks, TrainCommands

    reference = run_training(config("a"))
    commands = TrainCommands()

    def stop_after_three(progress, max_step, max_epoch):
        if progress.global_step == 3:
            commands.stop()

    first = run_training(config("b", backup_before_save=True), TrainCallbacks(on_update_train_progress=stop_after_three),
                         commands)
    assert len(first.loss_history) == 3
    resumed = run_training(config("b", continue_last_backup=True))
    assert resumed.loss_history[0][0] == 3
    assert losses(first) + losses(resumed) == pytest.approx(losses(reference), rel=1e-5, abs=1e-6)


def check_lora_trains_on_int8(config, layer, *, check_config=True):
    """LoRA on an INT_8 transformer: the config checks clean, `layer` (a path in the transformer) wraps an
    int8 linear layer and the loss falls. Returns the trainer."""
    from modules.engine import check

    if check_config:
        assert [p for p in check(config) if p.severity == "error"] == []
    trainer, before, after = train_measured(config)
    weight = trainer.model["transformer"].get_submodule(layer).base_layer.weight
    assert type(weight).__name__ == "Int8Tensor"
    assert after < before
    return trainer


def tiny_model_from_cli(model_type, out, *, subprocess=False, load=None):
    """The pipeline (DiffusionPipeline unless `load`) of the tiny model the CLI writes to `out`, run in this
    process or as `python -m modules.cli.tiny_model`."""
    if subprocess:
        import subprocess as sp
        import sys

        sp.run([sys.executable, "-m", "modules.cli.tiny_model", "--model-type", model_type, "--out", str(out)],
               check=True, capture_output=True)
    else:
        from modules.cli.tiny_model import main

        assert main(["--model-type", model_type, "--out", str(out)]) == 0
    if load is not None:
        return load(out)
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(out)
