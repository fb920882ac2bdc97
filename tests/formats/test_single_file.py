"""Original single-file checkpoints: a fine-tune saved as one file reloads through diffusers unchanged."""
from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from modules.formats import build_model_spec, load_single_file, save_original_single_file
from modules.formats.single_file import MissingComponentError
from tests.formats.conftest import BUILDERS, keymap_for

CASES = {
    "sd15": ("STABLE_DIFFUSION_15", ["model.diffusion_model.input_blocks.4.1.proj_in.weight",
                                     "model.diffusion_model.output_blocks.11.0.skip_connection.weight",
                                     "first_stage_model.decoder.up.1.block.0.conv1.weight",
                                     "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"]),
    "sd2": ("STABLE_DIFFUSION_21", ["model.diffusion_model.input_blocks.1.1.proj_in.weight",
                                    "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight",
                                    "cond_stage_model.model.positional_embedding"]),
    "sdxl": ("STABLE_DIFFUSION_XL_10_BASE", ["model.diffusion_model.label_emb.0.0.weight",
                                             "model.diffusion_model.input_blocks.7.1.transformer_blocks.1.attn2.to_k.weight",
                                             "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                                             "conditioner.embedders.1.model.text_projection"]),
}


def _components(pipe) -> dict:
    return {name: getattr(pipe, name) for name in ("unet", "vae", "text_encoder", "text_encoder_2")
            if getattr(pipe, name, None) is not None}


@pytest.mark.parametrize("name", list(CASES))
def test_single_file_reloads_equal(tmp_path, config_dir, name):
    model_type, expected_keys = CASES[name]
    pipe = BUILDERS[name](seed=5)  # other weights than the config folder's model
    with torch.no_grad():  # a "fine-tune": weights differ from any freshly built model
        for param in pipe.unet.parameters():
            param.add_(0.01)
    keymap = keymap_for(model_type)
    header = build_model_spec(model_type, "FINE_TUNE", keymap=keymap, resolution=512)
    path = save_original_single_file(tmp_path / f"{name}.safetensors", _components(pipe), keymap,
                                     metadata=header)
    with safe_open(str(path), framework="pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
    assert set(expected_keys) <= keys
    assert not any(k.startswith(("unet.", "vae.", "text_encoder")) for k in keys)
    assert metadata["modelspec.architecture"] == header["modelspec.architecture"]
    assert metadata["modelspec.hash_sha256"].startswith("0x")

    loaded = load_single_file(path, keymap, model_type, config_dir(name))
    for part, module in _components(pipe).items():
        ours, theirs = module.state_dict(), getattr(loaded, part).state_dict()
        assert ours.keys() == theirs.keys(), part
        for key, value in ours.items():
            assert torch.equal(theirs[key], value), f"{part}.{key}"


def test_dtype_and_missing_component(tmp_path):
    pipe = BUILDERS["sd15"]()
    path = save_original_single_file(tmp_path / "half.safetensors", _components(pipe), keymap_for("STABLE_DIFFUSION_15"),
                                     dtype=torch.float16)
    with safe_open(str(path), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    with pytest.raises(MissingComponentError):
        save_original_single_file(tmp_path / "x.safetensors", {"unet": pipe.unet}, keymap_for("STABLE_DIFFUSION_15"))
