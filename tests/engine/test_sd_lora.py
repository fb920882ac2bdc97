"""The vertical slice: SD 1.5 LoRA trains, saves, and the file works in diffusers; the CLI runs it."""
from __future__ import annotations

import json
import subprocess
import sys

import torch

from engine.helpers import deterministic_loss, run_training


def _pipeline(path):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(pipe):
    out = pipe("a red thing", num_inference_steps=2, height=32, width=32, output_type="np",
               generator=torch.Generator().manual_seed(0))
    return out.images[0]


def test_lora_loss_falls_and_file_loads_in_diffusers(make_config, tiny_model):
    from modules.engine import create_trainer

    cfg = make_config(epochs=5, learning_rate=3e-3, text_encoder__train=False)
    trainer = create_trainer(cfg)
    trainer.start()
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    assert len(trainer.loss_history) == 10
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert after < before

    from modules.formats import read_metadata

    header = read_metadata(cfg.output_model_destination)
    assert header["modelspec.architecture"] == "stable-diffusion-v1/lora"
    pipe = _pipeline(tiny_model("STABLE_DIFFUSION_15"))
    base = _image(pipe)
    pipe.load_lora_weights(cfg.output_model_destination)
    adapted = _image(pipe)
    assert abs(base - adapted).max() > 1e-4


def test_lora_with_text_encoder_and_workspace_layout(make_config):
    from modules.config.enums import TimeUnit

    cfg = make_config(sample_after=1, sample_after_unit=TimeUnit.EPOCH, backup_before_save=True)
    samples = []
    from modules.train import TrainCallbacks

    trainer = run_training(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert {g.name for g in trainer.method.groups} == {"text_encoder_lora", "unet_lora"}
    workspace = trainer.workspace.root
    assert len(list((workspace / "config").glob("*.json"))) == 1
    backups = list((workspace / "backup").iterdir())
    assert len(backups) == 1 and (backups[0] / "meta.json").is_file()
    assert json.loads((backups[0] / "meta.json").read_text())["train_progress"]["global_step"] == 4
    assert (backups[0] / "lora" / "lora.safetensors").is_file()
    assert (backups[0] / "optimizer" / "optimizer.pt").is_file()
    assert (backups[0] / "onetrainer_config" / "args.json").is_file()
    folders = sorted(p.name for p in (workspace / "samples").iterdir())
    assert folders == ["0 - a red thing"]
    assert len(samples) == 2 and samples[0].data.size == (32, 32)


def test_cli_trains_from_json_config(make_config, tmp_path):
    cfg = make_config(epochs=1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_settings_dict() | {"concepts": [c.to_dict() for c in cfg.concepts],
                                                          "samples": []}))
    out = tmp_path / "cli-model.safetensors"
    result = subprocess.run(
        [sys.executable, "-m", "modules.cli.train", "--config-path", str(path),
         "--config-value", f"output_model_destination={out}", "--config-value", "text_encoder.train=false"],
        capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file()
    assert "Training ..." in result.stdout
