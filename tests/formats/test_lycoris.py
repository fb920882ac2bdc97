"""LoHa, LoKr and DoRA adapters (peft) through every adapter file convention."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from peft import inject_adapter_in_model, set_peft_model_state_dict
from safetensors.torch import load_file

from modules.formats import load_lora, rescale_to_alpha, save_lora
from tests.formats.adapters import ALPHA, adapter_config, add_adapters
from tests.formats.conftest import keymap_for, sd_unet

SD15 = keymap_for("STABLE_DIFFUSION_15")
# few modules keep the per-forward cost of these adapter types low; both Linear and 3x3 Conv are covered
TARGETS = ["to_q", "proj_in", "conv_in", "conv_out"]
FORMATS = ["DIFFUSERS_LORA", "KOHYA_LORA", "COMFY_LORA", "LEGACY_LORA", "ORIGINAL_LORA"]


def unet_output(unet) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    sample = torch.randn(1, 4, 16, 16, generator=generator)
    context = torch.randn(1, 77, 32, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor([500]), encoder_hidden_states=context).sample


@pytest.fixture(scope="module")
def adapted_unets():
    cache = {}

    def get(kind: str):
        if kind not in cache:
            unet = sd_unet()
            state_dict = add_adapters(SimpleNamespace(unet=unet), kind, text_encoders=False, unet_targets=TARGETS)["unet"]
            cache[kind] = (state_dict, unet_output(unet))
        return cache[kind]
    return get


@pytest.mark.parametrize("kind", ["loha", "lokr", "dora"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_and_resume(tmp_path, adapted_unets, kind, fmt):
    state_dict, reference = adapted_unets(kind)
    path = save_lora(tmp_path / "a.safetensors", {"unet": state_dict}, ALPHA, SD15, fmt)
    loaded = load_lora(path, SD15)["unet"]
    if not (kind == "dora" and fmt == "DIFFUSERS_LORA"):  # diffusers folds alpha into lora_B
        for key, value in state_dict.items():
            assert torch.equal(loaded[key], value), key
    # continue training: a fresh peft adapter takes the file's weights and reproduces the model
    unet = sd_unet()
    inject_adapter_in_model(adapter_config(kind, TARGETS), unet)
    result = set_peft_model_state_dict(unet, rescale_to_alpha({"unet": loaded}, ALPHA)["unet"])
    assert not result.unexpected_keys
    torch.testing.assert_close(unet_output(unet), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["loha", "lokr", "dora"])
def test_adapters_change_the_output(adapted_unets, kind):
    assert (adapted_unets(kind)[1] - unet_output(sd_unet())).abs().max() > 1e-3


def test_lycoris_names_in_kohya_files(tmp_path, adapted_unets):
    stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    loha = load_file(save_lora(tmp_path / "h.safetensors", {"unet": adapted_unets("loha")[0]}, ALPHA, SD15, "KOHYA_LORA"))
    assert {f"{stem}.{s}" for s in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "alpha")} <= set(loha)
    lokr = load_file(save_lora(tmp_path / "k.safetensors", {"unet": adapted_unets("lokr")[0]}, ALPHA, SD15, "KOHYA_LORA"))
    assert {f"{stem}.lokr_w1", f"{stem}.lokr_w2", f"{stem}.alpha"} <= set(lokr)


def test_dora_scale_layout(tmp_path, adapted_unets):
    state_dict, _ = adapted_unets("dora")
    kohya = load_file(save_lora(tmp_path / "d.safetensors", {"unet": state_dict}, ALPHA, SD15, "KOHYA_LORA"))
    linear = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    conv = "conv_in"
    flat = "lora_unet_" + linear.replace(".", "_")
    assert kohya[f"{flat}.dora_scale"].shape == (8, 1)  # per output row, LyCORIS layout
    assert kohya[f"lora_unet_{conv.replace('.', '_')}.dora_scale"].shape == (8, 1, 1, 1)
    diffusers = load_file(save_lora(tmp_path / "e.safetensors", {"unet": state_dict}, ALPHA, SD15, "DIFFUSERS_LORA"))
    assert diffusers[f"unet.{linear}.lora_magnitude_vector.weight"].shape == (8,)
    assert diffusers[f"unet.{conv}.lora_magnitude_vector.weight"].shape == (1, 8, 1, 1)


def test_diffusers_loads_dora_file(tmp_path, adapted_unets):
    state_dict, reference = adapted_unets("dora")
    path = save_lora(tmp_path / "d.safetensors", {"unet": state_dict}, ALPHA, SD15, "DIFFUSERS_LORA")
    from tests.formats.conftest import BUILDERS

    pipe = BUILDERS["sd15"]()
    pipe.load_lora_weights(str(path))
    torch.testing.assert_close(unet_output(pipe.unet), reference, atol=1e-5, rtol=0)
