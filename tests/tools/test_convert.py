"""Model converter: full models, LoRAs and embeddings between formats, through the CLI, on tiny models."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors import safe_open

from modules.cli.convert import main
from modules.config.enums import ModelFormat, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig
from modules.families import family_for
from modules.formats import read_lora, save_embedding, save_lora
from modules.tools.convert import output_formats
from tests.formats.adapters import ALPHA, add_adapters
from tests.formats.conftest import BUILDERS, generate

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SD15, SD3 = "STABLE_DIFFUSION_15", "STABLE_DIFFUSION_3"


def _load(model_type: str, source) -> dict[str, dict[str, torch.Tensor]]:
    config = TrainConfig.default_values()
    config.model_type = ModelType(model_type)
    model = family_for(model_type).load(str(source), config)
    return {name: module.state_dict() for name, module in model.modules().items()}


def _files(folder) -> set[str]:
    return {os.path.relpath(os.path.join(root, f), folder) for root, _, files in os.walk(folder) for f in files}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(model_type: str):
        if model_type not in cache:
            cache[model_type] = family_for(model_type).build_tiny(root / model_type)
        return cache[model_type]
    return get


def test_output_formats_follow_the_model_type_and_the_family():
    assert output_formats(SD15, "FINE_TUNE") == [ModelFormat.DIFFUSERS, ModelFormat.ORIGINAL_SINGLE_FILE,
                                                 ModelFormat.LEGACY_SAFETENSORS]
    assert ModelFormat.KOHYA_LORA in output_formats(SD3, TrainingMethod.LORA)
    assert output_formats(SD15, "EMBEDDING") == [ModelFormat.SAFETENSORS]
    assert ModelFormat.INTERNAL not in output_formats("FLUX_DEV_1", "LORA")


# diffusers' SD3 single-file reader sets the CLIP-L projection to the identity, whatever the file holds
_NOT_READ_BACK = {SD3: {"text_encoder": {"text_projection.weight"}}}


@pytest.mark.parametrize("model_type, fmt", [(SD15, "ORIGINAL_SINGLE_FILE"), (SD3, "ORIGINAL_SINGLE_FILE")])
def test_full_model_to_single_file_and_back_to_diffusers(tmp_path, tiny, model_type, fmt):
    source = tiny(model_type)
    single = tmp_path / "model.safetensors"
    # the single file finds its component configs in the folder of the same name beside it (offline)
    assert main(["--model-type", model_type, "--input-name", str(source), "--output-model-format", "DIFFUSERS",
                 "--output-dtype", "FLOAT_32", "--output-model-destination", str(tmp_path / "model")]) == 0
    assert main(["--model-type", model_type, "--input-name", str(tmp_path / "model"),
                 "--output-model-format", fmt, "--output-dtype", "FLOAT_32",
                 "--output-model-destination", str(single)]) == 0
    with safe_open(str(single), "pt") as f:
        assert f.metadata()["modelspec.architecture"]
    back = tmp_path / "back"
    assert main(["--model-type", model_type, "--input-name", str(single), "--output-model-format", "DIFFUSERS",
                 "--output-dtype", "FLOAT_32", "--output-model-destination", str(back)]) == 0
    expected, reloaded = _load(model_type, source), _load(model_type, back)
    assert expected.keys() == reloaded.keys()
    for part, state in expected.items():
        skip = _NOT_READ_BACK.get(model_type, {}).get(part, set())
        assert state.keys() == reloaded[part].keys()
        for key, value in state.items():
            if key not in skip:
                assert torch.equal(value, reloaded[part][key]), f"{part}.{key}"


def test_output_dtype(tmp_path, tiny):
    source = tiny(SD15)
    out = tmp_path / "half.safetensors"
    assert main(["--model-type", SD15, "--input-name", str(source), "--output-model-format",
                 "ORIGINAL_SINGLE_FILE", "--output-dtype", "BFLOAT_16", "--output-model-destination", str(out)]) == 0
    unet = _load(SD15, source)["unet"]
    with safe_open(str(out), "pt") as f:
        tensor = f.get_tensor("model.diffusion_model.out.2.weight")
        assert {f.get_tensor(k).dtype for k in f.keys() if f.get_tensor(k).is_floating_point()} == {torch.bfloat16}
    assert torch.equal(tensor, unet["conv_out.weight"].to(torch.bfloat16))


@pytest.fixture(scope="module")
def adapted():
    pipe = BUILDERS["sd15"]()
    state_dicts = add_adapters(pipe)
    return pipe, state_dicts, generate(pipe)


def test_kohya_lora_to_diffusers_loads_in_diffusers(tmp_path, adapted):
    pipe, state_dicts, adapted_image = adapted
    kohya = save_lora(tmp_path / "kohya.safetensors", state_dicts, ALPHA, family_for(SD15).keymap, "KOHYA_LORA",
                      {"modelspec.title": "mine"})
    out = tmp_path / "diffusers.safetensors"
    assert main(["--model-type", SD15, "--training-method", "LORA", "--input-name", str(kohya),
                 "--output-model-format", "DIFFUSERS_LORA", "--output-dtype", "FLOAT_32",
                 "--output-model-destination", str(out)]) == 0
    assert read_lora(out, family_for(SD15).keymap).formats == {ModelFormat.DIFFUSERS_LORA}
    fresh = BUILDERS["sd15"]()
    base_image = generate(fresh)
    fresh.load_lora_weights(str(out))
    image = generate(fresh)
    assert (image - base_image).abs().max() > 0.05
    torch.testing.assert_close(image, adapted_image, atol=1e-4, rtol=0)
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["modelspec.title"] == "mine"  # the source header is kept


def test_lora_dtype(tmp_path, adapted):
    _, state_dicts, _ = adapted
    keymap = family_for(SD15).keymap
    source = save_lora(tmp_path / "in.safetensors", state_dicts, ALPHA, keymap, "DIFFUSERS_LORA")
    out = tmp_path / "comfy.safetensors"
    assert main(["--model-type", SD15, "--training-method", "LORA", "--input-name", str(source),
                 "--output-model-format", "COMFY_LORA", "--output-model-destination", str(out)]) == 0
    with safe_open(str(out), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert read_lora(out, keymap).formats == {ModelFormat.COMFY_LORA}


def test_embedding(tmp_path):
    keymap = family_for(SD15).keymap
    vectors = {"text_encoder": torch.randn(2, 32)}
    source = save_embedding(tmp_path / "emb.safetensors", vectors, keymap)
    out = tmp_path / "emb16.safetensors"
    assert main(["--model-type", SD15, "--training-method", "EMBEDDING", "--input-name", str(source),
                 "--output-model-format", "SAFETENSORS", "--output-model-destination", str(out)]) == 0
    with safe_open(str(out), "pt") as f:
        assert torch.equal(f.get_tensor("emp_params"), vectors["text_encoder"].half())


def _refused(capsys, tmp_path, argv: list[str], says: str) -> None:
    before = _files(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and says in err, err
    assert _files(tmp_path) == before  # nothing written


def test_bad_input_gets_one_line_and_writes_nothing(tmp_path, tiny, capsys, adapted):
    out = str(tmp_path / "out.safetensors")
    _refused(capsys, tmp_path, ["--model-type", SD15, "--training-method", "LORA", "--input-name",
                                str(tmp_path / "missing.safetensors"), "--output-model-format", "KOHYA_LORA",
                                "--output-model-destination", out], "does not exist")
    _refused(capsys, tmp_path, ["--model-type", SD15, "--input-name", str(tmp_path / "missing"),
                                "--output-model-format", "DIFFUSERS", "--output-model-destination", out],
             "cannot load")
    # a SD 1.5 folder is no SD3 model
    _refused(capsys, tmp_path, ["--model-type", SD3, "--input-name", str(tiny(SD15)),
                                "--output-model-format", "ORIGINAL_SINGLE_FILE",
                                "--output-model-destination", out], f"as {SD3}")
    # a SD 1.5 LoRA is no Flux LoRA
    lora = save_lora(tmp_path / "sd.safetensors", adapted[1], ALPHA, family_for(SD15).keymap, "KOHYA_LORA")
    _refused(capsys, tmp_path, ["--model-type", "FLUX_DEV_1", "--training-method", "LORA", "--input-name",
                                str(lora), "--output-model-format", "DIFFUSERS_LORA",
                                "--output-model-destination", out], "not a LoRA of FLUX_DEV_1")
    _refused(capsys, tmp_path, ["--model-type", SD15, "--training-method", "LORA", "--input-name", str(lora),
                                "--output-model-format", "DIFFUSERS", "--output-model-destination", out],
             "not an output format")
