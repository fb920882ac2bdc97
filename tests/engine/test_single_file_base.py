"""A single-file checkpoint (.safetensors / .ckpt) as the base model, with its configs found locally."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import run_training


def _single_file(tiny_model, model_type: str, path: Path) -> Path:
    """The tiny model of `model_type` written as one original-layout checkpoint at `path`."""
    from modules.families import family_for, keymap_for
    from modules.formats import save_original_single_file
    from modules.formats.single_file import original_state_dict

    family = family_for(model_type)
    components = family.single_file_components(family.load(tiny_model(model_type), None))
    if path.suffix == ".ckpt":
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": original_state_dict(components, keymap_for(model_type))}, path)
        return path
    return save_original_single_file(path, components, keymap_for(model_type))


def _config_folder(tiny_model, model_type: str, destination: Path) -> Path:
    """The tiny model's folder without any weights: configs and tokenizers are all a checkpoint needs."""
    shutil.copytree(tiny_model(model_type), destination, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return destination


@pytest.mark.parametrize("model_type", ["STABLE_DIFFUSION_15", "STABLE_DIFFUSION_XL_10_BASE"])
def test_lora_trains_on_a_single_file_base_with_its_config_folder_beside_it(
        model_type, make_config, tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv("OT_SINGLE_FILE_CONFIG_DIR", raising=False)
    checkpoint = _single_file(tiny_model, model_type, tmp_path / "checkpoints" / "my-model.safetensors")
    _config_folder(tiny_model, model_type, checkpoint.parent / "my-model")
    cfg = make_config(model_type, epochs=1, text_encoder__train=False, text_encoder_2__train=False,
                      base_model_name=str(checkpoint), offline_mode=True)
    trainer = run_training(cfg)
    assert len(trainer.loss_history) == 2
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert any(k.startswith("lora_unet_") for k in load_file(cfg.output_model_destination))
    # the weights are the checkpoint's: the config folder has none
    reference = load_file(Path(tiny_model(model_type)) / "vae" / "diffusion_pytorch_model.safetensors")
    loaded = trainer.model["vae"].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in reference.items())


def test_ckpt_base_found_through_the_config_dir_variable(tiny_model, tmp_path, monkeypatch):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    model_type = "STABLE_DIFFUSION_15"
    checkpoint = _single_file(tiny_model, model_type, tmp_path / "models" / "old.ckpt")
    _config_folder(tiny_model, model_type, tmp_path / "configs" / model_type)
    monkeypatch.setenv("OT_SINGLE_FILE_CONFIG_DIR", str(tmp_path / "configs"))
    cfg = TrainConfig.default_values()
    cfg.offline_mode = True
    model = family_for(model_type).load(str(checkpoint), cfg)
    reference = load_file(Path(tiny_model(model_type)) / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(model["unet"].state_dict()[k], v) for k, v in reference.items())


def test_config_folder_order(tmp_path, monkeypatch):
    from modules.formats.single_file import find_config_dir

    def folder(path: Path) -> Path:
        path.mkdir(parents=True)
        (path / "model_index.json").write_text("{}")
        return path

    checkpoint = tmp_path / "models" / "x.safetensors"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    monkeypatch.delenv("OT_SINGLE_FILE_CONFIG_DIR", raising=False)
    assert find_config_dir(checkpoint, "STABLE_DIFFUSION_15") is None
    library = tmp_path / "library"
    per_type = folder(library / "STABLE_DIFFUSION_15")
    monkeypatch.setenv("OT_SINGLE_FILE_CONFIG_DIR", str(library))
    assert find_config_dir(checkpoint, "STABLE_DIFFUSION_15") == per_type
    assert find_config_dir(checkpoint, "STABLE_DIFFUSION_XL_10_BASE") is None
    single = folder(tmp_path / "one")
    monkeypatch.setenv("OT_SINGLE_FILE_CONFIG_DIR", str(single))
    assert find_config_dir(checkpoint, "STABLE_DIFFUSION_XL_10_BASE") == single
    beside = folder(tmp_path / "models" / "x")
    assert find_config_dir(checkpoint, "STABLE_DIFFUSION_15") == beside


def test_offline_without_a_config_folder_says_what_to_provide(tiny_model, tmp_path, monkeypatch):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.formats.single_file import SingleFileConfigError

    monkeypatch.delenv("OT_SINGLE_FILE_CONFIG_DIR", raising=False)
    checkpoint = tmp_path / "lonely.safetensors"
    checkpoint.write_bytes(b"")  # never read: the missing configs are reported first
    cfg = TrainConfig.default_values()
    cfg.offline_mode = True
    with pytest.raises(SingleFileConfigError) as error:
        family_for("STABLE_DIFFUSION_XL_10_BASE").load(str(checkpoint), cfg)
    message = str(error.value)
    assert str(tmp_path / "lonely") in message and "OT_SINGLE_FILE_CONFIG_DIR" in message
    assert "model_index.json" in message and "STABLE_DIFFUSION_XL_10_BASE" in message
