"""The tiny-model, train-files and sample CLIs; training options that need a run to show."""
from __future__ import annotations

import json

import pytest
import torch

from engine.helpers import run_training


def test_tiny_model_cli_writes_a_loadable_diffusers_folder(tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from modules.cli.tiny_model import main

    assert main(["--model-type", "STABLE_DIFFUSION_XL_10_BASE", "--out", str(tmp_path / "xl")]) == 0
    pipe = StableDiffusionXLPipeline.from_pretrained(tmp_path / "xl")
    assert pipe.unet.config.addition_embed_type == "text_time"


def test_create_train_files_cli(tmp_path):
    from modules.cli.create_train_files import main
    from modules.config.train_config import TrainConfig

    paths = [tmp_path / "config.json", tmp_path / "concepts.json", tmp_path / "samples.json"]
    main(["--config-output-destination", str(paths[0]), "--concepts-output-destination", str(paths[1]),
          "--samples-output-destination", str(paths[2])])
    config = json.loads(paths[0].read_text())
    assert config["__version"] == TrainConfig.VERSION and config == TrainConfig.default_values().to_dict() | {
        k: config[k] for k in ("embedding", "additional_embeddings", "train_device")}
    assert len(json.loads(paths[1].read_text())) == 1 and json.loads(paths[2].read_text())[0]["prompt"] == ""


def test_sample_cli_renders_with_an_embedding(tiny_model, tmp_path):
    from PIL import Image

    from modules.cli.sample import main
    from modules.families import keymap_for
    from modules.formats import save_embedding

    embedding = tmp_path / "emb.safetensors"
    save_embedding(embedding, {"text_encoder": torch.randn(2, 32)}, keymap_for("STABLE_DIFFUSION_15"))
    destination = tmp_path / "out" / "image"
    main(["--model-type", "STABLE_DIFFUSION_15", "--base-model-name", tiny_model("STABLE_DIFFUSION_15"),
          "--prompt", "a <embedding> cat", "--destination", str(destination), "--height", "32", "--width", "32",
          "--embedding-name", str(embedding), "--diffusion-steps", "2"])
    assert Image.open(str(destination) + ".jpg").size == (32, 32)


@pytest.mark.parametrize("fields", [
    {"masked_training": True, "unmasked_weight": 0.2, "normalize_masked_area_loss": True},
    {"offset_noise_weight": 0.1, "perturbation_noise_weight": 0.1, "text_encoder__dropout_probability": 0.5,
     "loss_weight_fn": "MIN_SNR_GAMMA", "timestep_distribution": "LOGIT_NORMAL"},
    {"optimizer__optimizer": "SCHEDULE_FREE_ADAMW", "train_dtype": "BFLOAT_16", "clip_grad_norm": None},
])
def test_training_options_run(make_config, fields):
    from modules.config.enums import DataType, LossWeight, Optimizer, TimestepDistribution

    enums = {"loss_weight_fn": LossWeight, "timestep_distribution": TimestepDistribution,
             "optimizer__optimizer": Optimizer, "train_dtype": DataType}
    fields = {k: enums[k](v) if k in enums else v for k, v in fields.items()}
    trainer = run_training(make_config(epochs=1, **fields))
    assert len(trainer.loss_history) == 2
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)


def test_stop_training_after_freezes_a_part(make_config):
    from modules.config.enums import TimeUnit

    trainer = run_training(make_config(epochs=2, text_encoder__stop_training_after=1,
                                       text_encoder__stop_training_after_unit=TimeUnit.STEP))
    frozen = {g.name: g.frozen for g in trainer.method.groups}
    assert frozen == {"text_encoder_lora": True, "unet_lora": False}
