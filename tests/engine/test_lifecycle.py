"""Resume equivalence, commands during a run, EMA, continuing a LoRA, callbacks and TensorBoard tags."""
from __future__ import annotations

import pytest
import torch

from engine.helpers import deterministic_loss, run_training


def _losses(trainer):
    return [loss for _, loss in trainer.loss_history]


def test_resume_from_backup_repeats_the_uninterrupted_loss_sequence(make_config, tmp_path):
    from modules.train import TrainCallbacks, TrainCommands

    reference = run_training(make_config(epochs=3, workspace_dir=str(tmp_path / "a")))
    assert len(reference.loss_history) == 6

    commands = TrainCommands()

    def stop_after_three(progress, max_step, max_epoch):
        if progress.global_step == 3:
            commands.stop()

    first = run_training(make_config(epochs=3, workspace_dir=str(tmp_path / "b"), backup_before_save=True),
                         TrainCallbacks(on_update_train_progress=stop_after_three), commands)
    assert len(first.loss_history) == 3
    resumed = run_training(make_config(epochs=3, workspace_dir=str(tmp_path / "b"), continue_last_backup=True))
    assert resumed.loss_history[0][0] == 3
    assert _losses(first) + _losses(resumed) == pytest.approx(_losses(reference), rel=1e-5, abs=1e-6)


def test_commands_from_another_thread_mid_run(make_config):
    from modules.train import TrainCallbacks, TrainCommands

    commands = TrainCommands()
    custom_samples, default_samples = [], []

    def on_progress(progress, max_step, max_epoch):
        if progress.global_step == 1:
            commands.backup()
            commands.save()
            commands.sample_default()
            sample = trainer_config.samples[0].copy()
            sample.prompt = "custom prompt"
            commands.sample_custom(sample)
        if progress.global_step == 3:
            commands.stop()

    trainer_config = make_config(epochs=5)
    callbacks = TrainCallbacks(on_update_train_progress=on_progress, on_sample_custom=custom_samples.append,
                               on_sample_default=default_samples.append)
    trainer = run_training(trainer_config, callbacks, commands)
    root = trainer.workspace.root
    assert len(trainer.loss_history) == 3  # stopped after three steps
    assert len(list((root / "backup").iterdir())) == 1
    assert len(list((root / "save").glob("*.safetensors"))) == 1
    assert len(custom_samples) == 1 and len(default_samples) == 1
    assert list((root / "samples" / "custom").iterdir())
    from pathlib import Path

    assert Path(trainer_config.output_model_destination).is_file()  # end() still saves after a stop


def test_ema_weights_are_saved_and_sampled_separately(make_config):
    from modules.config.enums import EMAMode, TimeUnit

    plain = run_training(make_config(epochs=2, text_encoder__train=False))
    cfg = make_config(epochs=2, text_encoder__train=False, ema=EMAMode.CPU, ema_decay=0.5, ema_update_step_interval=1,
                      sample_after=2, sample_after_unit=TimeUnit.EPOCH, workspace_dir=plain.config.workspace_dir + "2",
                      output_model_destination=plain.config.output_model_destination + ".ema.safetensors")
    with_ema = run_training(cfg)
    assert _losses(with_ema) == pytest.approx(_losses(plain), rel=1e-5)  # EMA never changes the trained weights
    from safetensors.torch import load_file

    a, b = load_file(plain.config.output_model_destination), load_file(cfg.output_model_destination)
    assert any(not torch.allclose(a[k], b[k]) for k in a if k.endswith("lora_down.weight"))
    folders = sorted(p.name for p in (with_ema.workspace.root / "samples").iterdir())
    assert folders == ["0 - a red thing", "0 - a red thing - no-ema"]


def test_continue_training_a_saved_lora(make_config):
    first = run_training(make_config(epochs=2))
    expected = deterministic_loss(first)
    from modules.engine import create_trainer

    cfg = make_config(epochs=1, lora_model_name=first.config.output_model_destination, lora_rank=8)
    second = create_trainer(cfg)
    second.start()
    assert second.model.adapters["unet"].rank == 4  # the file's rank wins over the config
    assert deterministic_loss(second) == pytest.approx(expected, rel=1e-4)


def test_callbacks_statuses_and_tensorboard_tags(make_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from modules.train import TrainCallbacks

    statuses, progress = [], []

    def broken(*_):
        raise RuntimeError("a listener bug must not stop training")

    callbacks = TrainCallbacks(on_update_status=statuses.append,
                               on_update_train_progress=lambda p, s, e: progress.append((p.global_step, s, e)),
                               on_sample_default=broken)
    from modules.config.enums import TimeUnit

    trainer = run_training(make_config(epochs=1, sample_after=1, sample_after_unit=TimeUnit.EPOCH), callbacks)
    assert statuses[:3] == ["loading the model", "running model setup", "creating the data loader/caching"]
    assert "Training ..." in statuses and statuses[-1] == "Saving the final model"
    assert progress[-1] == (2, 2, 1)
    events = EventAccumulator(str(trainer.workspace.tensorboard_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train_step", "smooth_loss/train_step", "lr/text_encoder_lora", "lr/unet_lora"} <= tags
    # every step's values, each under its own tag (a step's values share one event)
    logged = [(e.step, e.value) for e in events.Scalars("loss/train_step")]
    assert logged == [(step, pytest.approx(loss)) for step, loss in trainer.loss_history] and len(logged) == 2
    assert [e.step for e in events.Scalars("lr/unet_lora")] == [0, 1]
    assert any(t.startswith("sample0 - a red thing") for t in events.Tags()["images"])


def test_gradient_accumulation_and_rolling_backups(make_config):
    from modules.config.enums import TimeUnit

    cfg = make_config(epochs=3, gradient_accumulation_steps=2, backup_after=1, backup_after_unit=TimeUnit.STEP,
                      rolling_backup=True, rolling_backup_count=2)
    trainer = run_training(cfg)
    assert [step for step, _ in trainer.loss_history] == [1, 3, 5]  # one update per two micro-batches
    assert len(list((trainer.workspace.root / "backup").iterdir())) == 2
