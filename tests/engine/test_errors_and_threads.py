"""A failing run reports through on_error and leaves the process ready for the next one; threads."""
from __future__ import annotations

import json
import threading
import time

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import run_training


def test_a_failure_inside_train_reaches_on_error_and_the_next_run_trains(make_config, tmp_path):
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks

    errors = []
    cfg = make_config(epochs=2, text_encoder__train=False)
    trainer = create_trainer(cfg, TrainCallbacks(on_error=errors.append))
    trainer.start()
    predict, calls = trainer.family.predict, []

    def diverging(*args, **kwargs):  # the third batch's prediction blows up
        calls.append(1)
        prediction = predict(*args, **kwargs)
        if len(calls) == 3:
            prediction.predicted = prediction.predicted * float("nan")
        return prediction

    trainer.family.predict = diverging
    weights_before = {n: p.detach().clone() for n, p in trainer.model["unet"].named_parameters() if p.requires_grad}
    with pytest.raises(FloatingPointError):
        trainer.train()
    trainer.end()  # the UI always ends a run, also after an error
    assert len(errors) == 1 and isinstance(errors[0], FloatingPointError)
    assert [step for step, _ in trainer.loss_history] == [0, 1]
    trained = dict(trainer.model["unet"].named_parameters())
    assert all(torch.isfinite(trained[n]).all() for n in weights_before)  # the bad update never happened
    assert any(not torch.equal(trained[n], v) for n, v in weights_before.items())
    saved = load_file(cfg.output_model_destination)
    assert all(torch.isfinite(v).all() for v in saved.values())
    assert torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")

    second = make_config(epochs=1, text_encoder__train=False, workspace_dir=str(tmp_path / "second"),
                         output_model_destination=str(tmp_path / "second.safetensors"))
    again = run_training(second, TrainCallbacks(on_error=errors.append))
    assert len(again.loss_history) == 2 and len(errors) == 1
    assert all(torch.isfinite(torch.tensor(v)) for _, v in again.loss_history)


def test_a_failure_inside_start_reaches_on_error(make_config, tmp_path):
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks

    errors = []
    trainer = create_trainer(make_config(base_model_name=str(tmp_path / "missing")),
                             TrainCallbacks(on_error=errors.append))
    with pytest.raises(FileNotFoundError):
        trainer.start()
    trainer.end()
    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)


def _config_file(cfg, path):
    path.write_text(json.dumps(cfg.to_settings_dict() | {"concepts": [c.to_dict() for c in cfg.concepts],
                                                          "samples": []}))
    return str(path)


def test_cli_uses_dataloader_threads_and_leaves_torch_threads_alone(make_config, tmp_path, monkeypatch):
    from modules.cli.train import main
    from modules.data.sample import SamplePipeline

    workers: set[int] = set()
    load = SamplePipeline.image_sample

    def recording(self, *args, **kwargs):
        workers.add(threading.get_ident())
        time.sleep(0.05)  # keep workers busy, so the pool grows to its limit
        return load(self, *args, **kwargs)

    monkeypatch.setattr(SamplePipeline, "image_sample", recording)

    def run(threads: int, *options: str) -> None:
        workers.clear()
        cfg = make_config(epochs=1, dataloader_threads=threads, text_encoder__train=False,
                          workspace_dir=str(tmp_path / f"w{threads}"), cache_dir=str(tmp_path / f"c{threads}"))
        assert main(["--config-path", _config_file(cfg, tmp_path / f"{threads}.json"), *options]) == 0
        assert threading.get_ident() not in workers
        assert len(workers) == threads

    asked: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    run(3)
    assert asked == []  # not asked: torch keeps its own setting
    run(1, "--torch-threads", "1")
    assert asked == [1]
