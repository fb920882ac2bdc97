"""Model-spec headers: default spec facts, optional fields, ot_config, the tensor hash."""
from __future__ import annotations

import datetime
import hashlib
import json

import pytest
import torch

from modules.config.enums import ConfigPart, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig
from modules.formats import build_model_spec, read_metadata
from modules.formats.model_spec import UnknownModelSpecError
from modules.formats.model_spec_table import MODEL_SPECS
from modules.formats.safetensors_io import tensor_hash, write_safetensors
from tests.formats.conftest import keymap_for


def test_table_matches_the_reference_facts(reference_dir):
    entries = json.loads((reference_dir / "model_spec_map.json").read_text())["entries"]
    expected = {(e["model_type"], m): (e["architecture"], e["title"], e["implementation"])
                for e in entries if e["architecture"] for m in e["training_methods"]}
    assert MODEL_SPECS == expected


def test_sd15_lora_header():
    header = build_model_spec(ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA, date=datetime.date(2026, 1, 2),
                              keymap=keymap_for(ModelType.STABLE_DIFFUSION_15), resolution=512, description="cats")
    assert header["modelspec.sai_model_spec"] == "1.0.0"
    assert header["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert header["modelspec.title"] == "Stable Diffusion 1.5 LoRA"
    assert header["modelspec.implementation"] == "https://github.com/huggingface/diffusers"
    assert header["modelspec.date"] == "2026-01-02"
    assert header["modelspec.resolution"] == "512x512"
    assert header["modelspec.description"] == "cats"
    assert "modelspec.author" not in header and "ot_config" not in header  # empty fields are left out
    assert header["ot_branch"] and header["ot_revision"]
    assert not any(k.startswith("ss_") for k in header)


def test_family_flags():
    sdxl = build_model_spec("STABLE_DIFFUSION_XL_10_BASE", "FINE_TUNE", keymap=keymap_for("STABLE_DIFFUSION_XL_10_BASE"))
    assert sdxl["ss_base_model_version"] == "sdxl_"
    assert sdxl["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"
    sd2 = build_model_spec("STABLE_DIFFUSION_21", "LORA", keymap=keymap_for("STABLE_DIFFUSION_21"))
    assert sd2["ss_v2"] == "True" and "ss_base_model_version" not in sd2
    # the family entries come from the key map passed in, not from a lookup by model type
    assert "ss_v2" not in build_model_spec("STABLE_DIFFUSION_21", "LORA")
    assert build_model_spec("FLUX_DEV_1", "LORA")["modelspec.architecture"] == "Flux.1-dev/lora"
    with pytest.raises(UnknownModelSpecError):
        build_model_spec("FLUX_2", "EMBEDDING")


def test_ot_config_per_include_train_config():
    config = TrainConfig.default_values()
    assert "ot_config" not in build_model_spec("STABLE_DIFFUSION_15", "LORA", train_config=config,
                                               include_train_config=ConfigPart.NONE)
    settings = build_model_spec("STABLE_DIFFUSION_15", "LORA", train_config=config,
                                include_train_config=ConfigPart.SETTINGS)
    assert json.loads(settings["ot_config"]) == json.loads(json.dumps(config.to_settings_dict()))
    packed = build_model_spec("STABLE_DIFFUSION_15", "LORA", train_config={"concepts": []},
                              include_train_config=ConfigPart.ALL)
    assert json.loads(packed["ot_config"]) == {"concepts": []}


def test_hash_is_sha256_of_sorted_raw_tensor_bytes(tmp_path):
    tensors = {"b": torch.arange(4, dtype=torch.float32), "a": torch.ones(2, 2, dtype=torch.bfloat16)}
    raw = tensors["a"].view(torch.uint8).numpy().tobytes() + tensors["b"].numpy().tobytes()
    assert tensor_hash(tensors) == "0x" + hashlib.sha256(raw).hexdigest()
    path = write_safetensors(tmp_path / "m.safetensors", tensors, build_model_spec("STABLE_DIFFUSION_15", "LORA"))
    assert read_metadata(path)["modelspec.hash_sha256"] == tensor_hash(tensors)
    assert "modelspec.hash_sha256" not in read_metadata(write_safetensors(tmp_path / "e.safetensors", tensors))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.safetensors", "m.safetensors"]  # no temp files left
