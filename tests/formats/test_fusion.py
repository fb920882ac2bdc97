"""Fused adapter modules (q/k/v -> qkv) on a small synthetic family whose native layout fuses them."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from modules.formats import (
    FamilyKeymap,
    Fusion,
    UnsupportedLoraFormatError,
    decode_lora,
    encode_lora,
    load_lora,
    save_lora,
)
from modules.formats.prefix_map import PrefixMap, Rule

FUSED_FORMATS = ("KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA")
HIDDEN, RANK, BLOCKS = 8, 2, 2
QKV = ("to_q", "to_k", "to_v")


def _native_map(config):
    rules = []
    for i in range(BLOCKS):
        rules.append(Rule(f"transformer_blocks.{i}", f"double_blocks.{i}",
                          {"attn.qkv": "img_attn.qkv", "attn.to_out.0": "img_attn.proj"}))
        rules.append(Rule(f"single_transformer_blocks.{i}", f"single_blocks.{i}",
                          {"qkv_mlp": "linear1", "proj_out": "linear2"}))
    return PrefixMap(rules)


KEYMAP = FamilyKeymap(
    name="fused-test",
    model_types=frozenset({"FUSED_TEST"}),
    denoiser="transformer",
    text_encoders=(),
    native_map=_native_map,
    native_roots=frozenset({"double_blocks", "single_blocks"}),
    vocabulary=frozenset({"transformer_blocks", "single_transformer_blocks", "double_blocks", "single_blocks",
                          "img_attn", "to_q", "to_k", "to_v", "to_out", "proj_mlp", "proj_out", "qkv_mlp"}),
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    fusions=(
        Fusion("transformer", "transformer_blocks.{i}.attn.to_q|to_k|to_v", "transformer_blocks.{i}.attn.qkv",
               formats=frozenset(FUSED_FORMATS)),
        Fusion("transformer", ("single_transformer_blocks.{i}.attn.to_q", "single_transformer_blocks.{i}.attn.to_k",
                               "single_transformer_blocks.{i}.attn.to_v", "single_transformer_blocks.{i}.proj_mlp"),
               "single_transformer_blocks.{i}.qkv_mlp", formats=frozenset(FUSED_FORMATS), ratios=(1, 1, 1, 4)),
    ),
)


def _lora(out: int, seed: int, rank: int = RANK) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"lora_A.weight": torch.randn(rank, HIDDEN, generator=generator),
            "lora_B.weight": torch.randn(out, rank, generator=generator)}


def _adapter(modules: dict[str, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """peft-style state dict of LoRAs on `{module path: out features}`."""
    state_dict = {}
    for n, (module, out) in enumerate(modules.items()):
        for suffix, value in _lora(out, seed + n).items():
            state_dict[f"{module}.{suffix}"] = value
    return state_dict


def _modules(blocks=range(BLOCKS), leaves=QKV, single=True) -> dict[str, int]:
    modules = {}
    for i in blocks:
        modules.update({f"transformer_blocks.{i}.attn.{leaf}": HIDDEN for leaf in leaves})
        modules[f"transformer_blocks.{i}.attn.to_out.0"] = HIDDEN
        if single:
            modules.update({f"single_transformer_blocks.{i}.attn.{leaf}": HIDDEN for leaf in QKV})
            modules[f"single_transformer_blocks.{i}.proj_mlp"] = 4 * HIDDEN
    return modules


def _alphas(modules) -> dict[str, float]:
    return {f"transformer.{m}": float(1 + n % 3) for n, m in enumerate(modules)}


def _deltas(parts_or_state: dict, alphas: dict | None = None) -> dict[str, torch.Tensor]:
    """module -> up @ down * alpha / rank (alphas from `<module>.alpha` entries or the `alphas` table)."""
    out = {}
    for key, down in parts_or_state.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key.removesuffix(".lora_A.weight")
        up = parts_or_state[f"{module}.lora_B.weight"]
        alpha = float(parts_or_state[f"{module}.alpha"]) if alphas is None else alphas[f"transformer.{module}"]
        out[module] = up @ down * (alpha / down.shape[0])
    return out


def _assert_deltas_equal(actual: dict, expected: dict):
    assert actual.keys() == expected.keys()
    for module, delta in expected.items():
        torch.testing.assert_close(actual[module], delta, msg=module)


@pytest.mark.parametrize("fmt", [*FUSED_FORMATS, "DIFFUSERS_LORA"])
def test_round_trip_keeps_every_module_delta(tmp_path, fmt):
    modules = _modules()
    state_dict, alphas = _adapter(modules), _alphas(modules)
    path = save_lora(tmp_path / "a.safetensors", {"transformer": state_dict}, alphas, KEYMAP, fmt)
    loaded = load_lora(path, KEYMAP)["transformer"]
    _assert_deltas_equal(_deltas(loaded), _deltas(state_dict, alphas))
    if fmt != "DIFFUSERS_LORA":  # the split adapters come back with their own rank
        assert {loaded[k].shape[0] for k in loaded if k.endswith(".lora_A.weight")} == {RANK}


def test_fused_names_and_shapes_per_convention():
    state_dict = _adapter(_modules())
    kohya = encode_lora({"transformer": state_dict}, 2.0, KEYMAP, "KOHYA_LORA")
    stem = "lora_unet_double_blocks_0_img_attn_qkv"
    assert kohya[f"{stem}.lora_down.weight"].shape == (3 * RANK, HIDDEN)
    assert kohya[f"{stem}.lora_up.weight"].shape == (3 * HIDDEN, 3 * RANK)
    assert float(kohya[f"{stem}.alpha"]) == 6.0  # alpha x 3 keeps the per-projection scale
    assert float(kohya["lora_unet_single_blocks_1_linear1.alpha"]) == 8.0
    assert kohya["lora_unet_single_blocks_1_linear1.lora_up.weight"].shape == (7 * HIDDEN, 4 * RANK)
    assert "lora_unet_double_blocks_0_img_attn_proj.lora_down.weight" in kohya  # not fused: renamed only
    assert not any("to_q" in k or "proj_mlp" in k for k in kohya)
    original = encode_lora({"transformer": state_dict}, 2.0, KEYMAP, "ORIGINAL_LORA")
    assert "double_blocks.1.img_attn.qkv.lora_A.weight" in original
    comfy = encode_lora({"transformer": state_dict}, 2.0, KEYMAP, "COMFY_LORA")
    assert "diffusion_model.single_blocks.0.linear1.lora_B.weight" in comfy
    diffusers = encode_lora({"transformer": state_dict}, 2.0, KEYMAP, "DIFFUSERS_LORA")
    assert "transformer.transformer_blocks.0.attn.to_k.lora_A.weight" in diffusers  # diffusers keeps them split
    assert not any("qkv" in k for k in diffusers)


@pytest.mark.parametrize("fmt", FUSED_FORMATS)
def test_fused_delta_is_the_per_module_deltas_in_the_fused_layout(fmt):
    modules = _modules()
    state_dict, alphas = _adapter(modules), _alphas(modules)
    tensors = encode_lora({"transformer": state_dict}, alphas, KEYMAP, fmt)
    names = {"KOHYA_LORA": ("lora_unet_double_blocks_0_img_attn_qkv", "lora_down.weight", "lora_up.weight"),
             "ORIGINAL_LORA": ("double_blocks.0.img_attn.qkv", "lora_A.weight", "lora_B.weight"),
             "COMFY_LORA": ("diffusion_model.double_blocks.0.img_attn.qkv", "lora_A.weight", "lora_B.weight")}
    stem, down_name, up_name = names[fmt]
    down, up, alpha = tensors[f"{stem}.{down_name}"], tensors[f"{stem}.{up_name}"], float(tensors[f"{stem}.alpha"])
    fused_delta = up @ down * (alpha / down.shape[0])
    separate = _deltas(state_dict, alphas)
    expected = torch.zeros(3 * HIDDEN, HIDDEN)
    for j, leaf in enumerate(QKV):
        expected[j * HIDDEN:(j + 1) * HIDDEN] += separate[f"transformer_blocks.0.attn.{leaf}"]
    torch.testing.assert_close(fused_delta, expected)
    # applied to a fused linear layer it changes each projection's output as the separate adapters do
    weights = {leaf: torch.randn(HIDDEN, HIDDEN) for leaf in QKV}
    x = torch.randn(5, HIDDEN)
    fused_out = x @ (torch.cat([weights[leaf] for leaf in QKV]) + fused_delta).T
    split_out = torch.cat([x @ (weights[leaf] + separate[f"transformer_blocks.0.attn.{leaf}"]).T for leaf in QKV], 1)
    torch.testing.assert_close(fused_out, split_out)


def test_partial_groups_fuse_with_zero_adapters_and_come_back_partial():
    modules = _modules(blocks=[1], leaves=("to_q", "to_v"), single=False)
    state_dict, alphas = _adapter(modules), _alphas(modules)
    tensors = encode_lora({"transformer": state_dict}, alphas, KEYMAP, "ORIGINAL_LORA")
    up = tensors["double_blocks.1.img_attn.qkv.lora_B.weight"]
    assert up.shape == (3 * HIDDEN, 3 * RANK)
    assert not torch.count_nonzero(up[HIDDEN:2 * HIDDEN])  # to_k had no adapter: its delta stays zero
    loaded = decode_lora(tensors, KEYMAP).parts["transformer"]
    _assert_deltas_equal(_deltas(loaded), _deltas(state_dict, alphas))


def test_dense_fused_lora_from_another_tool_splits_exactly():
    """A rank-r LoRA trained on the fused module itself has no block structure; each projection
    gets its rows of the fused delta."""
    generator = torch.Generator().manual_seed(3)
    down, up = torch.randn(3, HIDDEN, generator=generator), torch.randn(3 * HIDDEN, 3, generator=generator)
    tensors = {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": down,
               "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": up,
               "lora_unet_double_blocks_0_img_attn_qkv.alpha": torch.tensor(1.5)}
    loaded = decode_lora(tensors, KEYMAP).parts["transformer"]
    fused = up @ down * (1.5 / 3)
    deltas = _deltas(loaded)
    assert set(deltas) == {f"transformer_blocks.0.attn.{leaf}" for leaf in QKV}
    for j, leaf in enumerate(QKV):
        torch.testing.assert_close(deltas[f"transformer_blocks.0.attn.{leaf}"], fused[j * HIDDEN:(j + 1) * HIDDEN])


def test_dora_magnitudes_fuse_per_output_row():
    modules = {f"transformer_blocks.0.attn.{leaf}": HIDDEN for leaf in QKV}
    state_dict = _adapter(modules)
    for n, module in enumerate(modules):
        state_dict[f"{module}.lora_magnitude_vector"] = torch.full((HIDDEN,), 1.0 + n)
    tensors = encode_lora({"transformer": state_dict}, 2.0, KEYMAP, "KOHYA_LORA")
    scale = tensors["lora_unet_double_blocks_0_img_attn_qkv.dora_scale"]
    assert scale.shape == (3 * HIDDEN, 1) and scale[HIDDEN, 0] == 2.0
    loaded = decode_lora(tensors, KEYMAP).parts["transformer"]
    for module in modules:
        assert torch.equal(loaded[f"{module}.lora_magnitude_vector"], state_dict[f"{module}.lora_magnitude_vector"])
    _assert_deltas_equal(_deltas(loaded), _deltas(state_dict, {f"transformer.{m}": 2.0 for m in modules}))


@pytest.mark.parametrize(("kind", "suffixes"), [
    ("LoHa", ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")),
    ("LoKr", ("lokr_w1", "lokr_w2")),
    ("OFT", ("oft_R.weight",)),
])
@pytest.mark.parametrize("fmt", FUSED_FORMATS)
def test_adapter_types_that_cannot_fuse_are_refused(tmp_path, kind, suffixes, fmt):
    state_dict = {f"transformer_blocks.0.attn.{leaf}.{suffix}": torch.ones(2, 2) for leaf in QKV for suffix in suffixes}
    path = tmp_path / "x.safetensors"
    with pytest.raises(UnsupportedLoraFormatError, match=f"{fmt}.*{kind}"):
        save_lora(path, {"transformer": state_dict}, 1.0, KEYMAP, fmt)
    assert not path.exists()
    # the split convention stores them as they are
    diffusers = encode_lora({"transformer": state_dict}, 1.0, KEYMAP, "DIFFUSERS_LORA")
    assert f"transformer.transformer_blocks.0.attn.to_q.{suffixes[0]}" in diffusers


def test_unequal_ranks_are_refused():
    state_dict = _adapter({"transformer_blocks.0.attn.to_q": HIDDEN, "transformer_blocks.0.attn.to_k": HIDDEN})
    state_dict.update({f"transformer_blocks.0.attn.to_v.{k}": v for k, v in _lora(HIDDEN, 9, rank=3).items()})
    with pytest.raises(UnsupportedLoraFormatError, match="one rank"):
        encode_lora({"transformer": state_dict}, 1.0, KEYMAP, "KOHYA_LORA")


def test_fusion_patterns():
    fusion = KEYMAP.fusions[0]
    assert fusion.sources == ("transformer_blocks.{i}.attn.to_q", "transformer_blocks.{i}.attn.to_k",
                              "transformer_blocks.{i}.attn.to_v")
    assert fusion.match_source("transformer_blocks.12.attn.to_k") == (1, {"i": "12"})
    assert fusion.match_source("transformer_blocks.1.attn.to_k.extra") is None
    assert fusion.match_source("single_transformer_blocks.1.attn.to_k") is None
    assert fusion.match_target("transformer_blocks.3.attn.qkv") == {"i": "3"}
    assert KEYMAP.fusions[1].split_sizes(7 * HIDDEN) == [HIDDEN] * 3 + [4 * HIDDEN]
    assert KEYMAP.fusions_for("DIFFUSERS_LORA") == () and len(KEYMAP.fusions_for("KOHYA_LORA")) == 2
    with pytest.raises(ValueError, match="placeholders"):
        Fusion("transformer", "blocks.{i}.to_q|to_k", "blocks.qkv", formats=frozenset())
    with pytest.raises(ValueError, match="ratios"):
        Fusion("transformer", "blocks.{i}.to_q|to_k", "blocks.{i}.qkv", formats=frozenset(), ratios=(1, 1, 1))


def test_formats_functions_take_a_keymap_not_a_model_type(tmp_path):
    with pytest.raises(TypeError, match="FamilyKeymap"):
        encode_lora({"transformer": _adapter(_modules())}, 1.0, "FUSED_TEST", "KOHYA_LORA")
    tensors = load_file(save_lora(tmp_path / "k.safetensors", {"transformer": _adapter(_modules())}, 1.0, KEYMAP,
                                  "KOHYA_LORA"))
    with pytest.raises(TypeError, match="FamilyKeymap"):
        decode_lora(tensors, "FUSED_TEST")
