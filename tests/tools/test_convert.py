"""Model converter: full models, LoRAs and embeddings between formats, through the CLI, on tiny models."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from modules.cli.convert import main
from modules.config.enums import ModelFormat, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig
from modules.families import family_for
from modules.formats import read_lora, save_embedding, save_lora
from modules.tools.convert import output_formats
from tests.formats.adapters import ALPHA, add_adapters, assert_same_effect
from tests.formats.conftest import BUILDERS, generate

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SD15, SD3, FLUX = "STABLE_DIFFUSION_15", "STABLE_DIFFUSION_3", "FLUX_DEV_1"


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


def test_transformer_file_and_back_with_the_base(tmp_path, tiny):
    source = tiny(FLUX)
    single = tmp_path / "transformer.safetensors"
    assert main(["--model-type", FLUX, "--input-name", str(source), "--output-model-format", "ORIGINAL_TRANSFORMER",
                 "--output-dtype", "FLOAT_32", "--output-model-destination", str(single)]) == 0
    with safe_open(str(single), "pt") as f:
        assert not any(k.startswith(("vae", "text_encoder", "transformer.")) for k in f.keys())
        shifted = {k: f.get_tensor(k) + 1 for k in f.keys()}  # the original layout only moves values
    save_file(shifted, str(single))
    back = tmp_path / "back"
    # the transformer from the file, the text encoders and the VAE from the base model
    assert main(["--model-type", FLUX, "--input-name", str(single), "--base-model-name", str(source),
                 "--output-model-format", "DIFFUSERS", "--output-dtype", "FLOAT_32",
                 "--output-model-destination", str(back)]) == 0
    expected, reloaded = _load(FLUX, source), _load(FLUX, back)
    for part, state in expected.items():
        for key, value in state.items():
            want = value + 1 if part == "transformer" else value
            assert torch.equal(want, reloaded[part][key]), f"{part}.{key}"


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


def _trained_lora(base: Path, model_type: str, path: Path, fmt: str) -> Path:
    """A LoRA on every trainable part of a tiny model, random non-zero weights, written by our trainer's saver."""
    from modules.train.methods import MethodSetup

    family = family_for(model_type)
    config = TrainConfig.default_values()
    config.model_type, config.training_method = ModelType(model_type), TrainingMethod.LORA
    setup = MethodSetup(family, family.load(str(base), config), config)
    setup.setup()
    generator = torch.Generator().manual_seed(1)
    for group in setup.groups:
        for parameter in group.params:
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.5
    setup.save_final(str(path), ModelFormat(fmt), None, {})
    return path


@pytest.mark.parametrize("fmt", ["DIFFUSERS_LORA", "COMFY_LORA", "LEGACY_LORA", "KOHYA_LORA"])
def test_flux_lora_between_formats_follows_the_base_layout(tmp_path, tiny, fmt):
    base = tiny(FLUX)
    keymap = family_for(FLUX).keymap
    denoiser_config = dict(_load_config(base))
    source = _trained_lora(base, FLUX, tmp_path / "kohya.safetensors", "KOHYA_LORA")
    out = tmp_path / f"{fmt}.safetensors"
    assert main(["--model-type", FLUX, "--training-method", "LORA", "--input-name", str(source),
                 "--base-model-name", str(base), "--output-model-format", fmt, "--output-dtype", "FLOAT_32",
                 "--output-model-destination", str(out)]) == 0
    converted = read_lora(out, keymap, denoiser_config=denoiser_config)
    # Flux's legacy names are the kohya names, so a legacy file reads as kohya
    assert converted.formats == ({ModelFormat.KOHYA_LORA} if fmt == "LEGACY_LORA" else {ModelFormat(fmt)})
    assert_same_effect(read_lora(source, keymap, denoiser_config=denoiser_config).parts, converted.parts)


def _load_config(base: Path) -> dict:
    import json

    return json.loads((base / "transformer" / "config.json").read_text())


def test_a_format_that_cannot_hold_the_lora_is_refused(tmp_path, adapted, capsys):
    kohya = save_lora(tmp_path / "kohya.safetensors", adapted[1], ALPHA, family_for(SD15).keymap, "KOHYA_LORA")
    _refused(capsys, tmp_path, ["--model-type", SD15, "--training-method", "LORA", "--input-name", str(kohya),
                                "--output-model-format", "ORIGINAL_LORA",
                                "--output-model-destination", str(tmp_path / "original.safetensors")],
             "cannot be written as ORIGINAL_LORA")


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
    # a SDXL embedding (two text encoders) is no SD 1.5 embedding
    sdxl = family_for("STABLE_DIFFUSION_XL_10_BASE").keymap
    embedding = save_embedding(tmp_path / "xl.safetensors", {"text_encoder": torch.randn(1, 32),
                                                             "text_encoder_2": torch.randn(1, 48)}, sdxl)
    _refused(capsys, tmp_path, ["--model-type", SD15, "--training-method", "EMBEDDING", "--input-name",
                                str(embedding), "--output-model-format", "SAFETENSORS",
                                "--output-model-destination", out], f"not an embedding of {SD15}")


# ---- the dialog ----------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("OT_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


async def _open_dialog(user) -> None:
    from nicegui import ui
    from nicegui.testing.user_interaction import UserInteraction

    await user.open("/?tab=tools")
    await user.should_see("Convert model")
    with user:
        (button,) = [b for b in user.find(kind=ui.button, content="Open").elements
                     if "Convert model" in str(b.props.get("aria-label"))]
    UserInteraction(user, {button}, None).click()
    await user.should_see(marker="convert-dialog")


def _select(user, marker: str, value) -> None:
    with user:
        (element,) = user.find(marker=marker).elements
        element.set_value(value)


def _options(user, marker: str) -> list:
    with user:
        (element,) = user.find(marker=marker).elements
        return list(element.options)


async def test_dialog_converts_and_offers_the_formats_of_the_method(data_dir, user, tiny, tmp_path):
    await _open_dialog(user)
    _select(user, "convert-model_type", ModelType.STABLE_DIFFUSION_15)
    assert _options(user, "convert-format") == output_formats(SD15, "FINE_TUNE")
    _select(user, "convert-method", TrainingMethod.LORA)
    assert _options(user, "convert-format") == output_formats(SD15, "LORA")
    _select(user, "convert-method", TrainingMethod.FINE_TUNE)
    _select(user, "convert-format", ModelFormat.ORIGINAL_SINGLE_FILE)
    # a picked model_index.json stands for its folder
    user.find(marker="convert-input").clear().type(str(tiny(SD15) / "model_index.json"))
    out = tmp_path / "out" / "model.safetensors"
    user.find(marker="convert-destination").clear().type(str(out))
    user.find(marker="convert-run").click()
    await user.should_see("Done", retries=600)
    with safe_open(str(out), "pt") as f:
        assert f.get_tensor("model.diffusion_model.out.2.weight").dtype == torch.float16


async def test_dialog_says_in_one_line_what_is_wrong_and_writes_nothing(data_dir, user, tmp_path):
    await _open_dialog(user)
    _select(user, "convert-method", TrainingMethod.LORA)
    missing = str(tmp_path / "missing.safetensors")
    user.find(marker="convert-input").clear().type(missing)
    user.find(marker="convert-destination").clear().type(str(tmp_path / "out.safetensors"))
    user.find(marker="convert-run").click()
    await user.should_see(f"Stopped: input file {missing} does not exist")
    assert not (tmp_path / "out.safetensors").exists()


# ---- in Chromium -----------------------------------------------------------------------------------
def test_dialog_in_chromium_in_both_themes(tmp_path, tiny):
    from deploy.harness import ARTIFACTS, CHROMIUM_ARGS, chromium_path, run_app

    from ot_nicegui.widgets.fields import option_label

    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    if executable is None or not os.path.exists(executable):
        pytest.skip("chromium is not installed (tests/setup_system.sh installs it)")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    source = tiny(SD15)
    with run_app(tmp_path) as app, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page: {e}"))
            page.goto(app.url + "/?tab=tools")
            page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == "dark")
            page.get_by_role("button", name="Open Convert model").click()
            dialog = page.locator(".q-dialog")
            dialog.get_by_label("What to convert").click()
            page.get_by_role("option", name="LoRA", exact=True).click()
            dialog.get_by_label("Output format").click()
            page.get_by_role("option", name=option_label(ModelFormat.KOHYA_LORA), exact=True).wait_for()
            page.keyboard.press("Escape")
            dialog.get_by_label("What to convert").click()
            page.get_by_role("option", name="Base model", exact=True).click()
            dialog.get_by_label("Output format").click()
            page.get_by_role("option", name=option_label(ModelFormat.ORIGINAL_SINGLE_FILE), exact=True).click()
            dialog.get_by_role("textbox", name="Input (model folder").fill(str(source))
            out = tmp_path / f"{scheme}.safetensors"
            dialog.get_by_role("textbox", name="Output destination").fill(str(out))
            dialog.get_by_role("button", name="Convert").click()
            dialog.get_by_text("Done", exact=True).wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / f"convert-dialog-{scheme}.png"))
            assert out.is_file()
            context.close()
        browser.close()
        log = app.output()
    assert not errors, errors
    assert "Traceback" not in log, log[-3000:]
