"""Multi-process training on the CPU (gloo): two processes train exactly like one process that
accumulates the same global batch; a dead rank ends the run with its name; torchrun cooperates."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.helpers import losses, run_training
from modules.train import TrainCallbacks
from modules.train.distributed import current_world

# float sums in another order (all-reduce vs accumulation): differences at rounding level only
TOLERANCE = 1e-5


def relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max() / (b[k].float().abs().max() + 1e-12)) for k in a)


@pytest.fixture
def single_process_reference(make_config, tmp_path):
    """One process, batch 1, two accumulated micro-batches per update: the global batch of two ranks.
    (No warm-up: its length counts micro-batches, which a rank's steps are not.)"""
    config = make_config(batch_size=1, gradient_accumulation_steps=2, learning_rate_warmup_steps=0,
                         output_model_destination=str(tmp_path / "single" / "lora.safetensors"),
                         workspace_dir=str(tmp_path / "single-ws"), cache_dir=str(tmp_path / "single-cache"))
    trainer = run_training(config)
    return load_file(config.output_model_destination), losses(trainer)


def test_two_processes_train_like_one_process_accumulating_their_batches(make_config, tmp_path,
                                                                           single_process_reference) -> None:
    reference, reference_losses = single_process_reference
    config = make_config(batch_size=1, multi_gpu=True, device_indexes="0,1", learning_rate_warmup_steps=0,
                         output_model_destination=str(tmp_path / "ddp" / "lora.safetensors"))
    steps = []
    callbacks = TrainCallbacks(on_update_train_progress=lambda p, *_: steps.append(p.global_step))
    trainer = run_training(config, callbacks)
    assert trainer.world.size == 2 and steps[-1] == 4  # 2 epochs × 2 steps of 2 × 1 images
    assert relative_difference(load_file(config.output_model_destination), reference) < TOLERANCE
    assert losses(trainer) == pytest.approx(reference_losses, rel=TOLERANCE)  # rank 0 logs the mean loss
    assert not current_world().active  # the process group is gone: the next run is a plain one
    snapshots = list((Path(config.workspace_dir) / "config").glob("*.json"))
    assert len(snapshots) == 1  # only rank 0 writes into the workspace


def test_a_rank_that_dies_ends_the_run_with_its_name(make_config, tmp_path) -> None:
    from modules.engine import create_trainer

    config = make_config(batch_size=1, epochs=200, multi_gpu=True, device_indexes="0,1")

    def kill_rank_1(progress, *_):
        if progress.global_step == 2:
            os.kill(trainer.workers[0].pid, signal.SIGKILL)

    trainer = create_trainer(config, TrainCallbacks(on_update_train_progress=kill_rank_1))
    trainer.start()
    with pytest.raises(RuntimeError, match=r"rank 1 stopped: killed by signal SIGKILL"):
        trainer.train()
    trainer.end()  # rank 0 still saves what it trained
    assert Path(config.output_model_destination).is_file()
    assert trainer.workers[0].returncode == -signal.SIGKILL and not current_world().active


def test_a_torchrun_launch_of_an_ordinary_config_trains_one_run(make_config, tmp_path,
                                                                 single_process_reference) -> None:
    reference, _ = single_process_reference
    config = make_config(batch_size=1, learning_rate_warmup_steps=0,
                         output_model_destination=str(tmp_path / "torchrun" / "lora.safetensors"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_pack_dict()))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "modules.cli.train", "--config-path", str(path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("epoch 2/2") >= 1 and "(global 4)" in done.stdout  # rank 0 reports 4 steps
    assert relative_difference(load_file(config.output_model_destination), reference) < TOLERANCE


def test_a_rank_that_cannot_start_ends_the_start_with_its_reason(make_config) -> None:
    from modules.config.enums import ModelFormat, TrainingMethod
    from modules.engine import create_trainer

    # a config the children refuse at their check (rank 0 was not asked to check it)
    config = make_config(multi_gpu=True, device_indexes="0,1", training_method=TrainingMethod.FINE_TUNE,
                         output_model_format=ModelFormat.KOHYA_LORA)
    trainer = create_trainer(config)
    with pytest.raises(RuntimeError, match=r"rank 1 stopped before the run began: error: output_model_format"):
        trainer.start()
    trainer.end()
    assert not current_world().active
