"""Adapter files: key conventions, round trips, and loading by diffusers and peft."""
from __future__ import annotations

import pytest
import torch
from peft import inject_adapter_in_model, set_peft_model_state_dict
from safetensors.torch import load_file

from modules.formats import (
    UnsupportedLoraFormatError,
    align_to_module,
    load_lora,
    read_lora,
    read_metadata,
    rescale_to_alpha,
    save_lora,
    split_alphas,
)
from tests.formats.adapters import (
    ALPHA,
    TE_TARGETS,
    UNET_TARGETS,
    adapter_config,
    add_adapters,
    assert_same_effect,
)
from tests.formats.conftest import BUILDERS, generate, keymap_for

SD15, SDXL = keymap_for("STABLE_DIFFUSION_15"), keymap_for("STABLE_DIFFUSION_XL_10_BASE")
KEYMAPS = {"sd15": SD15, "sdxl": SDXL}
ALL_FORMATS = ["DIFFUSERS_LORA", "KOHYA_LORA", "COMFY_LORA", "LEGACY_LORA", "ORIGINAL_LORA"]


class Adapted:
    """A tiny pipeline with random adapters, its images with and without them."""

    def __init__(self, name: str):
        self.name, self.keymap = name, KEYMAPS[name]
        self.base_image = generate(BUILDERS[name]())
        self.pipe = BUILDERS[name]()
        self.state_dicts = add_adapters(self.pipe)
        self.image = generate(self.pipe)

    def parts(self, only_unet: bool = False) -> dict:
        return {"unet": self.state_dicts["unet"]} if only_unet else self.state_dicts

    def with_alphas(self, only_unet: bool = False) -> dict:
        out = {}
        for part, state_dict in self.parts(only_unet).items():
            out[part] = dict(state_dict)
            for key in state_dict:
                if key.endswith(".lora_A.weight"):
                    out[part][key.removesuffix("lora_A.weight") + "alpha"] = torch.tensor(ALPHA)
        return out

    def aligned(self, parts: dict) -> dict:
        return {part: align_to_module(sd, getattr(self.pipe, part)) for part, sd in parts.items()}


@pytest.fixture(scope="session")
def adapted():
    cache = {}

    def get(name: str) -> Adapted:
        if name not in cache:
            cache[name] = Adapted(name)
        return cache[name]
    return get


def _save(tmp_path, adapted: Adapted, fmt: str, **kwargs):
    only_unet = fmt == "ORIGINAL_LORA"
    return save_lora(tmp_path / f"{adapted.name}-{fmt}.safetensors", adapted.parts(only_unet), ALPHA,
                     adapted.keymap, fmt, {"modelspec.title": "test"}, **kwargs)


@pytest.mark.parametrize("name", ["sd15", "sdxl"])
@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_round_trip_every_format(tmp_path, adapted, name, fmt):
    a = adapted(name)
    path = _save(tmp_path, a, fmt)
    loaded = a.aligned(load_lora(path, a.keymap))
    assert_same_effect(a.with_alphas(only_unet=fmt == "ORIGINAL_LORA"), loaded)
    if fmt != "DIFFUSERS_LORA":  # only diffusers folds alpha into the weights
        expected = a.with_alphas(only_unet=fmt == "ORIGINAL_LORA")
        for part, state_dict in expected.items():
            for key, value in state_dict.items():
                assert torch.equal(loaded[part][key], value), key
    assert read_metadata(path)["modelspec.title"] == "test"


def test_kohya_names_sd15(tmp_path, adapted):
    keys = load_file(_save(tmp_path, adapted("sd15"), "KOHYA_LORA"))
    unet = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    te = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    for stem in (unet, te, "lora_unet_down_blocks_0_resnets_1_time_emb_proj", "lora_te_text_model_encoder_layers_1_mlp_fc2"):
        for suffix in ("lora_down.weight", "lora_up.weight", "alpha"):
            assert f"{stem}.{suffix}" in keys
    assert float(keys[f"{unet}.alpha"]) == ALPHA and keys[f"{unet}.alpha"].ndim == 0
    assert keys[f"{unet}.lora_down.weight"].shape[0] == 4
    # SD 1/2 legacy files are the kohya layout
    assert set(load_file(_save(tmp_path, adapted("sd15"), "LEGACY_LORA"))) == set(keys)


def test_kohya_names_sdxl_use_sgm_layout(tmp_path, adapted):
    keys = load_file(_save(tmp_path, adapted("sdxl"), "KOHYA_LORA"))
    assert "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight" in keys
    assert "lora_unet_output_blocks_0_1_transformer_blocks_1_attn2_to_k.alpha" in keys
    assert "lora_unet_middle_block_0_in_layers_2.lora_down.weight" in keys
    assert "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.alpha" in keys
    assert "lora_te2_text_model_encoder_layers_1_mlp_fc1.lora_up.weight" in keys
    assert not any("down_blocks" in k for k in keys)
    legacy = load_file(_save(tmp_path, adapted("sdxl"), "LEGACY_LORA"))
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight" in legacy
    assert "lora_te2_text_model_encoder_layers_1_mlp_fc1.lora_up.weight" in legacy


def test_comfy_and_original_names(tmp_path, adapted):
    comfy = load_file(_save(tmp_path, adapted("sd15"), "COMFY_LORA"))
    assert "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_A.weight" in comfy
    assert "diffusion_model.output_blocks.11.0.in_layers.2.alpha" in comfy
    assert "text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight" in comfy
    comfy_xl = load_file(_save(tmp_path, adapted("sdxl"), "COMFY_LORA"))
    assert "text_encoders.clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj.alpha" in comfy_xl
    original = load_file(_save(tmp_path, adapted("sd15"), "ORIGINAL_LORA"))
    assert "input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_A.weight" in original
    assert all(k.split(".")[0] in {"input_blocks", "middle_block", "output_blocks"} for k in original)


def test_original_refuses_text_encoders_and_embeddings(tmp_path, adapted):
    a = adapted("sd15")
    with pytest.raises(UnsupportedLoraFormatError):
        save_lora(tmp_path / "x.safetensors", a.parts(), ALPHA, SD15, "ORIGINAL_LORA")
    with pytest.raises(UnsupportedLoraFormatError):
        save_lora(tmp_path / "x.safetensors", a.parts(only_unet=True), ALPHA, SD15, "ORIGINAL_LORA",
                  embeddings={"<x>": {"text_encoder": torch.ones(1, 32)}})
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("name", ["sd15", "sdxl"])
@pytest.mark.parametrize("fmt", ["DIFFUSERS_LORA", "KOHYA_LORA"])
def test_diffusers_loads_the_file_and_reproduces_the_adapter(tmp_path, adapted, name, fmt):
    a = adapted(name)
    path = _save(tmp_path, a, fmt)
    pipe = BUILDERS[name]()
    pipe.load_lora_weights(str(path))
    image = generate(pipe)
    assert (image - a.base_image).abs().max() > 0.05  # the adapter changes the output
    torch.testing.assert_close(image, a.image, atol=1e-4, rtol=0)  # exactly as the trained adapter did


def test_resume_from_kohya_file_with_another_alpha(tmp_path, adapted):
    """A user's kohya LoRA continues training in a peft adapter created with a different alpha."""
    a = adapted("sd15")
    parts = load_lora(_save(tmp_path, a, "KOHYA_LORA"), SD15)
    pipe = BUILDERS["sd15"]()
    weights = rescale_to_alpha(parts, alpha=8.0)
    for part, targets in (("unet", UNET_TARGETS), ("text_encoder", TE_TARGETS)):
        module = getattr(pipe, part)
        config = adapter_config("lora", targets)
        config.lora_alpha = 8.0
        inject_adapter_in_model(config, module)
        result = set_peft_model_state_dict(module, align_to_module(weights[part], module))
        assert not result.unexpected_keys
    torch.testing.assert_close(generate(pipe), a.image, atol=1e-4, rtol=0)


def test_per_module_alphas_survive(tmp_path, adapted):
    a = adapted("sd15")
    unet = a.state_dicts["unet"]
    modules = sorted({k.removesuffix(".lora_A.weight") for k in unet if k.endswith(".lora_A.weight")})
    alphas = {f"unet.{m}": float(i % 5 + 1) for i, m in enumerate(modules)}
    for fmt in ("KOHYA_LORA", "COMFY_LORA", "DIFFUSERS_LORA"):
        path = save_lora(tmp_path / f"{fmt}.safetensors", {"unet": unet}, alphas, SD15, fmt)
        weights, loaded_alphas = split_alphas(load_lora(path, SD15))
        if fmt == "DIFFUSERS_LORA":
            up = f"{modules[3]}.lora_B.weight"
            torch.testing.assert_close(weights["unet"][up], unet[up] * alphas[f"unet.{modules[3]}"] / 4)
        else:
            assert loaded_alphas == alphas


def test_bundled_embeddings(tmp_path, adapted):
    a = adapted("sdxl")
    vectors = {"<cat>": {"text_encoder": torch.randn(2, 32), "text_encoder_2": torch.randn(2, 48)}}
    path = _save(tmp_path, a, "KOHYA_LORA", embeddings=vectors)
    keys = load_file(path)
    assert {"bundle_emb.<cat>.clip_l", "bundle_emb.<cat>.clip_g"} <= set(keys)
    result = read_lora(path, SDXL)
    assert result.embeddings.keys() == vectors.keys()
    for part, value in vectors["<cat>"].items():
        assert torch.equal(result.embeddings["<cat>"][part], value)
    sd_keys = load_file(save_lora(tmp_path / "sd.safetensors", adapted("sd15").parts(), ALPHA, SD15, "KOHYA_LORA",
                                  embeddings={"<a>": {"text_encoder": torch.ones(1, 32)}}))
    assert "bundle_emb.<a>.clip_l" in sd_keys  # SD 1/2 bundle under clip_l, not emp_params


def test_save_dtype(tmp_path, adapted):
    path = _save(tmp_path, adapted("sd15"), "KOHYA_LORA", dtype=torch.bfloat16)
    assert {v.dtype for v in load_file(path).values()} == {torch.bfloat16}


def test_reads_files_written_by_other_tools(tmp_path, adapted):
    """diffusers' own LoRA writer and its kohya converter produce files we read back identically."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_kohya

    a = adapted("sd15")
    StableDiffusionPipeline.save_lora_weights(tmp_path / "diffusers", unet_lora_layers=a.state_dicts["unet"],
                                              text_encoder_lora_layers=a.state_dicts["text_encoder"])
    ours = load_lora(tmp_path / "diffusers" / "pytorch_lora_weights.safetensors", SD15)
    # diffusers writes no alphas: scale 1, so compare the raw factors
    for key, value in a.state_dicts["unet"].items():
        assert torch.equal(ours["unet"][key], value)
    kohya = convert_state_dict_to_kohya({f"unet.{k}": v for k, v in a.state_dicts["unet"].items()})
    torch.save(kohya, tmp_path / "kohya.ckpt")
    ours = load_lora(tmp_path / "kohya.ckpt", SD15)
    for key, value in a.state_dicts["unet"].items():
        assert torch.equal(ours["unet"][key], value)
