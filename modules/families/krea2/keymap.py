"""File-format names of Krea 2: the native (Krea) layout of the transformer, which names what
diffusers' `Krea2Transformer2DModel` names differently but fuses nothing:

    transformer_blocks.{i}.attn.to_q / to_k / to_v     blocks.{i}.attn.wq / wk / wv
    transformer_blocks.{i}.attn.to_out.0 / to_gate     blocks.{i}.attn.wo / gate
    transformer_blocks.{i}.attn.norm_q / norm_k        blocks.{i}.attn.qknorm.qnorm / knorm
    transformer_blocks.{i}.ff.gate / up / down         blocks.{i}.mlp.gate / up / down
    transformer_blocks.{i}.norm1 / norm2               blocks.{i}.prenorm / postnorm
    transformer_blocks.{i}.scale_shift_table [6, D]    blocks.{i}.mod.lin [6·D]
    text_fusion.{layerwise,refiner}_blocks.{i}.…       txtfusion.{layerwise,refiner}_blocks.{i}.… (as blocks)
    text_fusion.projector                              txtfusion.projector
    img_in, time_embed.linear_1 / linear_2             first, tmlp.0 / tmlp.2
    time_mod_proj                                      tproj.1
    txt_in.norm / linear_1 / linear_2                  txtmlp.0 / txtmlp.1 / txtmlp.3
    final_layer.linear / norm / scale_shift_table      last.linear / last.norm / last.modulation.lin

RMSNorm weights are named `scale` natively. Krea 2 trains no text-encoder adapter and has no
LEGACY_LORA layout."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import torch

from modules.formats.keymap import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

# Krea 2's transformer (Krea-2-Raw)
KREA2_LAYERS, KREA2_LAYERWISE_BLOCKS, KREA2_REFINER_BLOCKS = 28, 2, 2

BLOCK_LEAVES = {
    "attn.to_q": "attn.wq",
    "attn.to_k": "attn.wk",
    "attn.to_v": "attn.wv",
    "attn.to_out.0": "attn.wo",
    "attn.to_gate": "attn.gate",
    "attn.norm_q": "attn.qknorm.qnorm",
    "attn.norm_k": "attn.qknorm.knorm",
    "ff": "mlp",
    "norm1": "prenorm",
    "norm2": "postnorm",
}
EMBEDDER_RULES = (
    Rule("img_in", "first"),
    Rule("time_embed.linear_1", "tmlp.0"),
    Rule("time_embed.linear_2", "tmlp.2"),
    Rule("time_mod_proj", "tproj.1"),
    Rule("txt_in.norm", "txtmlp.0"),
    Rule("txt_in.linear_1", "txtmlp.1"),
    Rule("txt_in.linear_2", "txtmlp.3"),
    Rule("text_fusion.projector", "txtfusion.projector"),
    Rule("final_layer.linear", "last.linear"),
    Rule("final_layer.norm", "last.norm"),
)
NATIVE_ROOTS = frozenset({"blocks", "first", "tmlp", "tproj", "txtmlp", "txtfusion", "last"})
VOCABULARY = frozenset({
    # diffusers
    "transformer_blocks", "to_q", "to_k", "to_v", "to_out", "to_gate", "norm_q", "norm_k", "text_fusion",
    "layerwise_blocks", "refiner_blocks", "time_embed", "linear_1", "linear_2", "time_mod_proj", "txt_in",
    "img_in", "final_layer", "scale_shift_table",
})
_NORMS = frozenset({"prenorm", "postnorm", "qnorm", "knorm"})
_BLOCK_TABLE, _FINAL_TABLE = "mod.lin", "last.modulation.lin"


def _counts(config: Mapping | None) -> tuple[int, int, int]:
    if config is None:
        return KREA2_LAYERS, KREA2_LAYERWISE_BLOCKS, KREA2_REFINER_BLOCKS
    return (int(config.get("num_layers", KREA2_LAYERS)),
            int(config.get("num_layerwise_text_blocks", KREA2_LAYERWISE_BLOCKS)),
            int(config.get("num_refiner_text_blocks", KREA2_REFINER_BLOCKS)))


@cache
def _map(layers: int, layerwise: int, refiner: int) -> PrefixMap:
    rules = [Rule(f"transformer_blocks.{i}", f"blocks.{i}", BLOCK_LEAVES) for i in range(layers)]
    for kind, count in (("layerwise_blocks", layerwise), ("refiner_blocks", refiner)):
        rules += [Rule(f"text_fusion.{kind}.{i}", f"txtfusion.{kind}.{i}", BLOCK_LEAVES) for i in range(count)]
    return PrefixMap([*rules, *EMBEDDER_RULES])


def native_map(config: Mapping | None) -> PrefixMap:
    return _map(*_counts(config))


def _is_norm(native_module: str) -> bool:
    return native_module.rpartition(".")[2] in _NORMS or native_module in ("txtmlp.0", "last.norm")


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers transformer -> native keys: RMSNorm weights named `scale`, each block's modulation
    table flattened."""
    names = native_map(config)
    out = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if param == "scale_shift_table":
            if module == "final_layer":
                out[_FINAL_TABLE] = value
            else:
                out[f"{names.forward(module)}.{_BLOCK_TABLE}"] = value.reshape(-1)
            continue
        native = names.forward(module)
        out[f"{native}.{'scale' if _is_norm(native) and param == 'weight' else param}"] = value
    return out


def transformer_from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The inverse of `transformer_to_original`."""
    names = native_map(config)
    out = {}
    for key, value in state_dict.items():
        if key == _FINAL_TABLE:
            out["final_layer.scale_shift_table"] = value
            continue
        if key.endswith(f".{_BLOCK_TABLE}"):
            out[f"{names.backward(key[: -len(_BLOCK_TABLE) - 1])}.scale_shift_table"] = value.reshape(6, -1)
            continue
        module, _, param = key.rpartition(".")
        out[f"{names.backward(module)}.{'weight' if _is_norm(module) and param == 'scale' else param}"] = value
    return out


KREA2 = FamilyKeymap(
    name="krea2",
    model_types=frozenset({"KREA_2"}),
    denoiser="transformer",
    # no adapter file holds text-encoder keys; the single encoder is named as one-encoder families name it
    text_encoders=(TextEncoderKeys("text_encoder", "lora_te", None, "qwen3_vl", "qwen3_vl"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    # ORIGINAL_TRANSFORMER: the transformer alone, natively named
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"KREA_2": "Krea2Pipeline"},
)

KEYMAPS = (KREA2,)
