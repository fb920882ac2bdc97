"""The native (Black Forest Labs) layout of the Flux 2 transformer.

Like Flux.1, each double block fuses what diffusers' `Flux2Transformer2DModel` splits: the image
and text attention projections (`attn.to_q/k/v` -> `img_attn.qkv`, `attn.add_q/k/v_proj` ->
`txt_attn.qkv`). The single blocks are fused in both namings (`attn.to_qkv_mlp_proj` is
`linear1`). Modulation is shared by all blocks of a stream, outside the blocks. Module names:

    transformer_blocks.{i}.attn.to_out.0            double_blocks.{i}.img_attn.proj
    transformer_blocks.{i}.ff.linear_in / out       double_blocks.{i}.img_mlp.0 / 2
    transformer_blocks.{i}.ff_context.linear_in     double_blocks.{i}.txt_mlp.0
    single_transformer_blocks.{i}.attn.to_out       single_blocks.{i}.linear2
    double_stream_modulation_img.linear             double_stream_modulation_img.lin
    time_guidance_embed.timestep_embedder.linear_1  time_in.in_layer
    x_embedder / context_embedder                   img_in / txt_in
    norm_out.linear / proj_out                      final_layer.adaLN_modulation.1 / final_layer.linear

`to_original` / `from_original` convert whole state dicts (fusing q/k/v, renaming RMSNorm `weight`
to `scale`, swapping the final modulation's scale/shift halves, stored in opposite order natively).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from modules.formats.keymap import Fusion
from modules.formats.prefix_map import PrefixMap, Rule

from .flux_layout import fuse_weights, split_weights

DOUBLE_BLOCK_LEAVES = {
    "attn.qkv": "img_attn.qkv",
    "attn.added_qkv": "txt_attn.qkv",
    "attn.to_out.0": "img_attn.proj",
    "attn.to_add_out": "txt_attn.proj",
    "attn.norm_q": "img_attn.norm.query_norm",
    "attn.norm_k": "img_attn.norm.key_norm",
    "attn.norm_added_q": "txt_attn.norm.query_norm",
    "attn.norm_added_k": "txt_attn.norm.key_norm",
    "ff.linear_in": "img_mlp.0",
    "ff.linear_out": "img_mlp.2",
    "ff_context.linear_in": "txt_mlp.0",
    "ff_context.linear_out": "txt_mlp.2",
}
SINGLE_BLOCK_LEAVES = {
    "attn.to_qkv_mlp_proj": "linear1",
    "attn.to_out": "linear2",
    "attn.norm_q": "norm.query_norm",
    "attn.norm_k": "norm.key_norm",
}
_EMBEDDER_LEAVES = {"linear_1": "in_layer", "linear_2": "out_layer"}
_MODULATION_LEAVES = {"linear": "lin"}
MODULATIONS = ("double_stream_modulation_img", "double_stream_modulation_txt", "single_stream_modulation")

EMBEDDER_RULES = (
    Rule("x_embedder", "img_in"),
    Rule("context_embedder", "txt_in"),
    Rule("time_guidance_embed.timestep_embedder", "time_in", _EMBEDDER_LEAVES),
    Rule("time_guidance_embed.guidance_embedder", "guidance_in", _EMBEDDER_LEAVES),
    *(Rule(name, name, _MODULATION_LEAVES) for name in MODULATIONS),
    Rule("norm_out.linear", "final_layer.adaLN_modulation.1"),
    Rule("proj_out", "final_layer.linear"),
)

# first path segments of native names; the shared modulations keep their root in both namings (their
# diffusers names map back onto themselves), so that their native `lin` leaves are read back as `linear`
NATIVE_ROOTS = frozenset({"double_blocks", "single_blocks", "img_in", "txt_in", "time_in", "guidance_in",
                          "final_layer", *MODULATIONS})

# compound segment names of both namings (to undo kohya's `.` -> `_` flattening)
VOCABULARY = frozenset({
    # diffusers
    "transformer_blocks", "single_transformer_blocks", "to_q", "to_k", "to_v", "to_out", "add_q_proj", "add_k_proj",
    "add_v_proj", "to_add_out", "norm_q", "norm_k", "norm_added_q", "norm_added_k", "ff_context", "linear_in",
    "linear_out", "to_qkv_mlp_proj", "proj_out", "norm_out", "x_embedder", "context_embedder",
    "time_guidance_embed", "timestep_embedder", "guidance_embedder", "linear_1", "linear_2", "added_qkv",
    "double_stream_modulation_img", "double_stream_modulation_txt", "single_stream_modulation",
    # native
    "double_blocks", "single_blocks", "img_attn", "txt_attn", "img_mlp", "txt_mlp", "query_norm", "key_norm",
    "img_in", "txt_in", "time_in", "guidance_in", "in_layer", "out_layer", "final_layer", "adaLN_modulation",
})

# the modulation whose output halves (scale, shift in diffusers; shift, scale natively) swap
SWAPPED_HALVES = ("norm_out.linear",)

_NORM_LEAVES = ("norm_q", "norm_k", "norm_added_q", "norm_added_k")


def fusions(part: str, formats: Iterable[str]) -> tuple[Fusion, ...]:
    """The two fused groups of each double block, for the given ModelFormat names."""
    formats = frozenset(formats)
    return (
        Fusion(part, "transformer_blocks.{i}.attn.to_q|to_k|to_v", "transformer_blocks.{i}.attn.qkv", formats),
        Fusion(part, "transformer_blocks.{i}.attn.add_q_proj|add_k_proj|add_v_proj",
               "transformer_blocks.{i}.attn.added_qkv", formats),
    )


@dataclass(frozen=True)
class Flux2Layout:
    double_blocks: int
    single_blocks: int

    @classmethod
    def from_config(cls, config: Mapping) -> Flux2Layout:
        return cls(int(config["num_layers"]), int(config["num_single_layers"]))


# FLUX.2 dev; the Klein models have fewer blocks (a map for more blocks names theirs too)
DEV_LAYOUT = Flux2Layout(double_blocks=8, single_blocks=48)

_MAPS: dict[Flux2Layout, PrefixMap] = {}


def native_map(layout: Flux2Layout) -> PrefixMap:
    if layout not in _MAPS:
        rules = list(EMBEDDER_RULES)
        rules += [Rule(f"transformer_blocks.{i}", f"double_blocks.{i}", DOUBLE_BLOCK_LEAVES)
                  for i in range(layout.double_blocks)]
        rules += [Rule(f"single_transformer_blocks.{i}", f"single_blocks.{i}", SINGLE_BLOCK_LEAVES)
                  for i in range(layout.single_blocks)]
        _MAPS[layout] = PrefixMap(rules)
    return _MAPS[layout]


def native_map_for(config: Mapping | None) -> PrefixMap:
    """`FamilyKeymap.native_map`: the map of a transformer config (None: the dev model's)."""
    return native_map(DEV_LAYOUT if config is None else Flux2Layout.from_config(config))


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping, part: str = "transformer"
                ) -> dict[str, torch.Tensor]:
    """diffusers transformer state dict -> native keys, q/k/v fused where the native model fuses."""
    names = native_map(Flux2Layout.from_config(config))
    out = {}
    for key, value in fuse_weights(state_dict, fusions(part, ())).items():
        module, _, param = key.rpartition(".")
        if module in SWAPPED_HALVES:
            value = _swap_halves(value)
        if module.rpartition(".")[2] in _NORM_LEAVES and param == "weight":
            param = "scale"
        out[f"{names.forward(module)}.{param}"] = value
    return out


def from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping, part: str = "transformer"
                  ) -> dict[str, torch.Tensor]:
    """Native keys -> the diffusers transformer state dict (the inverse of `to_original`)."""
    names = native_map(Flux2Layout.from_config(config))
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        module = names.backward(module)
        if module in SWAPPED_HALVES:
            value = _swap_halves(value)
        if module.rpartition(".")[2] in _NORM_LEAVES and param == "scale":
            param = "weight"
        renamed[f"{module}.{param}"] = value
    return split_weights(renamed, fusions(part, ()))
