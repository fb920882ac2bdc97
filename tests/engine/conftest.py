"""Shared fixtures: tiny models built once per session, a tiny image set, config factory."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)  # tiny models: threads only add contention on small CI machines
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """tiny_model(model_type) -> path of a random tiny diffusers folder (built once per type)."""
    from modules.families import family_for

    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, str] = {}

    def get(model_type: str) -> str:
        if model_type not in built:
            built[model_type] = str(family_for(model_type).build_tiny(root / model_type))
        return built[model_type]

    return get


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """Four 32 px images with captions and masks: a red top half on noise."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(4):
        pixels = (rng.random((32, 32, 3)) * 255).astype("uint8")
        pixels[:16] = (200, 30, 30)
        Image.fromarray(pixels).save(root / f"img{i}.png")
        (root / f"img{i}.txt").write_text(f"a red thing {i}")
        mask = np.zeros((32, 32), dtype="uint8")
        mask[:16] = 255
        Image.fromarray(mask).save(root / f"img{i}-masklabel.png")
    return str(root)


@pytest.fixture
def make_config(tmp_path, tiny_model, image_dir):
    """make_config(model_type, method, **fields) -> a small, fast TrainConfig on the tiny model."""
    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, ModelType, Optimizer, TimeUnit, TrainingMethod
    from modules.config.sample_config import SampleConfig
    from modules.config.train_config import TrainConfig

    def make(model_type="STABLE_DIFFUSION_15", method="LORA", **fields):
        cfg = TrainConfig.default_values()
        cfg.model_type = ModelType(model_type)
        cfg.training_method = TrainingMethod(method)
        cfg.base_model_name = tiny_model(model_type)
        cfg.workspace_dir = str(tmp_path / "workspace")
        cfg.cache_dir = str(tmp_path / "cache")
        cfg.resolution = "32"
        cfg.epochs = 2
        cfg.batch_size = 2
        cfg.learning_rate = 1e-3
        cfg.train_device = "cpu"
        cfg.train_dtype = DataType.FLOAT_32
        cfg.tensorboard = False
        cfg.dataloader_threads = 1
        cfg.optimizer.optimizer = Optimizer.ADAMW
        cfg.optimizer.fused = False
        cfg.lora_rank = 4
        cfg.lora_alpha = 4.0
        cfg.sample_after_unit = TimeUnit.NEVER
        cfg.backup_after_unit = TimeUnit.NEVER
        cfg.backup_before_save = False
        concept = ConceptConfig.default_values()
        concept.path = image_dir
        concept.seed = 1
        cfg.concepts = [concept]
        sample = SampleConfig.default_values()
        sample.prompt, sample.width, sample.height, sample.diffusion_steps = "a red thing", 32, 32, 2
        cfg.samples = [sample]
        fmt = {"LORA": ModelFormat.KOHYA_LORA, "EMBEDDING": ModelFormat.SAFETENSORS}.get(method, ModelFormat.DIFFUSERS)
        cfg.output_model_format = fmt
        ext = fmt.file_extension()
        cfg.output_model_destination = str(tmp_path / "models" / f"model{ext}")
        for key, value in fields.items():
            owner = cfg
            *path, leaf = key.split("__")
            for name in path:
                owner = getattr(owner, name)
            setattr(owner, leaf, value)
        return cfg

    return make
