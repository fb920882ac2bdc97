"""Every built-in preset of a supported model family trains one step on a tiny model of its type.

Each preset is loaded as the UI loads it (sparse preset applied to the defaults, then the optimizer's
parameter set selected). The test then only swaps what a tiny CPU run cannot take from the preset:
the base model (a tiny local one), the data (one 32 px image, batch size 1, one epoch), the folders,
the device (CPU), and it switches off TensorBoard, sampling and the backup before the final save.
The presets' dtypes are kept (float16 and bfloat16 weights and the float16 train dtype run on CPU),
except quantized weight types whose back-end cannot run on CPU (NFLOAT_4 needs CUDA kernels): those
parts are quantized to INT_8 instead, so the preset still trains on quantized weights.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from ot_test_paths import REPO_ROOT
from PIL import Image
from safetensors.torch import load_file

from modules.config.enums import ModelFormat, ModelType, TimeUnit, TrainingMethod
from modules.config.presets import load_config_file
from modules.families import supported_model_types


def _presets_by_model_type() -> dict[str, list[Path]]:
    supported = {t.value for t in supported_model_types()}
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted((REPO_ROOT / "training_presets").rglob("*.json")):
        model_type = load_config_file(path, preset=True).model_type.value
        if model_type in supported:
            found[model_type].append(path)
    return dict(found)


PRESETS = _presets_by_model_type()


def test_the_presets_of_every_supported_family_are_found():
    assert set(PRESETS) >= {"STABLE_DIFFUSION_15", "STABLE_DIFFUSION_15_INPAINTING", "STABLE_DIFFUSION_20_INPAINTING",
                            "STABLE_DIFFUSION_21", "STABLE_DIFFUSION_XL_10_BASE",
                            "STABLE_DIFFUSION_XL_10_BASE_INPAINTING"}
    assert sum(len(paths) for paths in PRESETS.values()) >= 15


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-image")
    pixels = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(root / "img.png")
    (root / "img.txt").write_text("a red thing")
    mask = np.zeros((32, 32), dtype="uint8")
    mask[:16] = 255
    Image.fromarray(mask).save(root / "img-masklabel.png")
    return str(root)


def _tiny_run(path: Path, base_model: str, image_dir: str, root: Path):
    from modules.config.concept_config import ConceptConfig

    cfg = load_config_file(path, preset=True)
    cfg.change_optimizer(cfg.optimizer.optimizer)
    name = path.stem.lstrip("#").replace(" ", "_")
    cfg.base_model_name = base_model
    cfg.text_encoder_4.model_name = ""  # HiDream's Llama comes from the tiny base model, not the hub
    cfg.transformer.model_name = ""  # so does the Z-Image De-Turbo transformer file
    cfg.effnet_encoder.model_name = ""  # Würstchen's image encoder and decoder come from the tiny folder too
    cfg.decoder.model_name = ""
    cfg.workspace_dir = str(root / name / "workspace")
    cfg.cache_dir = str(root / name / "cache")
    cfg.output_model_destination = str(root / name / "out" / Path(cfg.output_model_destination).name)
    cfg.train_device = "cpu"
    cfg.resolution = "32"
    cfg.batch_size = 1
    cfg.epochs = 1
    cfg.tensorboard = False
    cfg.backup_before_save = False
    cfg.sample_after_unit = TimeUnit.NEVER
    concept = ConceptConfig.default_values()
    concept.path = image_dir
    cfg.concepts = [concept]
    cfg.samples = []
    _runnable_weight_dtypes(cfg)
    return cfg


def _runnable_weight_dtypes(cfg) -> None:
    from modules.config.enums import DataType
    from modules.families.parts.quantization import device_info, unavailable_reason

    cpu = device_info("cpu")
    for part in cfg.model_type.model_parts():
        part_config = getattr(cfg, part)
        if unavailable_reason(part_config.weight_dtype, cpu) is not None:
            part_config.weight_dtype = DataType.INT_8


def _assert_output_format(trainer, cfg) -> None:
    destination = Path(cfg.output_model_destination)
    fmt, model_type = ModelFormat(cfg.output_model_format), ModelType(cfg.model_type)
    if fmt == ModelFormat.DIFFUSERS:
        assert (destination / "model_index.json").is_file()
        return
    # a preset may name its file without the extension (PixArt Σ's "models/model"): it is written as named
    assert destination.is_file() and destination.suffix in (fmt.file_extension(), "")
    keys = set(load_file(destination))
    method = TrainingMethod(cfg.training_method)
    if method == TrainingMethod.EMBEDDING:
        from modules.families import keymap_for

        assert keys == {te.embedding_key for te in keymap_for(model_type).text_encoders}
    elif method == TrainingMethod.LORA:
        from modules.families import keymap_for
        from modules.formats import read_lora

        denoiser = trainer.family.denoiser
        lora = read_lora(destination, keymap_for(model_type), denoiser_config=dict(trainer.model[denoiser].config))
        assert lora.formats == {fmt} and denoiser in lora.parts
    else:
        from modules.families import keymap_for
        from modules.formats.single_file import original_state_dict

        expected = original_state_dict(trainer.family.single_file_components(trainer.model), keymap_for(model_type))
        # the whole model (SD, SDXL, SD3) or the transformer alone (Flux, Chroma), in the original names
        # (Stable Cascade: the prior alone, in the original layout)
        assert fmt in (ModelFormat.ORIGINAL_SINGLE_FILE, ModelFormat.ORIGINAL_TRANSFORMER,
                       ModelFormat.LEGACY_SAFETENSORS) and keys == set(expected)


@pytest.mark.parametrize("model_type", sorted(PRESETS))
def test_every_builtin_preset_trains_one_step(model_type, tiny_model, one_image, tmp_path):
    from engine.helpers import run_training

    base_model = tiny_model(model_type)
    for path in PRESETS[model_type]:
        cfg = _tiny_run(path, base_model, one_image, tmp_path)
        trainer = run_training(cfg)
        assert [step for step, _ in trainer.loss_history] == [0], path.name
        assert torch.isfinite(torch.tensor(trainer.loss_history[0][1])), path.name
        _assert_output_format(trainer, cfg)
