"""The native (Black Forest Labs) layout of Flux-style transformers, shared by Flux.1 and Chroma.

diffusers' `FluxTransformer2DModel` splits what the original model fuses: each double block's image
and text attention projections (`attn.to_q/k/v` -> `img_attn.qkv`, `attn.add_q/k/v_proj` ->
`txt_attn.qkv`) and each single block's attention projections together with its MLP input
(`attn.to_q/k/v` + `proj_mlp` -> `linear1`). Module names map block by block:

    transformer_blocks.{i}.norm1.linear          double_blocks.{i}.img_mod.lin
    transformer_blocks.{i}.attn.to_out.0         double_blocks.{i}.img_attn.proj
    transformer_blocks.{i}.ff.net.0.proj         double_blocks.{i}.img_mlp.0
    single_transformer_blocks.{i}.proj_out       single_blocks.{i}.linear2
    single_transformer_blocks.{i}.norm.linear    single_blocks.{i}.modulation.lin
    x_embedder / context_embedder                img_in / txt_in
    norm_out.linear / proj_out                   final_layer.adaLN_modulation.1 / final_layer.linear

The fused modules have a name in the diffusers naming too (`attn.qkv`, `attn.added_qkv`,
`qkv_mlp`), which is what `Fusion` targets use; the prefix map renames those like any other module.

`FluxLayout` builds the map for a model's block counts; a family with other embedders (Chroma's
guidance approximator instead of time/vector/guidance embedders) passes its own `embedder_rules`.
`to_original` / `from_original` convert whole state dicts (fusing weights, renaming RMSNorm
`weight` to `scale`, and swapping the final modulation's scale/shift halves, which the two
implementations store in opposite order).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from modules.formats.keymap import Fusion, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

DOUBLE_BLOCK_LEAVES = {
    "norm1.linear": "img_mod.lin",
    "norm1_context.linear": "txt_mod.lin",
    "attn.qkv": "img_attn.qkv",
    "attn.added_qkv": "txt_attn.qkv",
    "attn.to_out.0": "img_attn.proj",
    "attn.to_add_out": "txt_attn.proj",
    "attn.norm_q": "img_attn.norm.query_norm",
    "attn.norm_k": "img_attn.norm.key_norm",
    "attn.norm_added_q": "txt_attn.norm.query_norm",
    "attn.norm_added_k": "txt_attn.norm.key_norm",
    "ff.net.0.proj": "img_mlp.0",
    "ff.net.2": "img_mlp.2",
    "ff_context.net.0.proj": "txt_mlp.0",
    "ff_context.net.2": "txt_mlp.2",
}
SINGLE_BLOCK_LEAVES = {
    "qkv_mlp": "linear1",
    "proj_out": "linear2",
    "norm.linear": "modulation.lin",
    "attn.norm_q": "norm.query_norm",
    "attn.norm_k": "norm.key_norm",
}
_EMBEDDER_LEAVES = {"linear_1": "in_layer", "linear_2": "out_layer"}

# Flux.1's embedders; Chroma replaces the time/vector/guidance ones with its approximator
FLUX_EMBEDDER_RULES = (
    Rule("x_embedder", "img_in"),
    Rule("context_embedder", "txt_in"),
    Rule("time_text_embed.timestep_embedder", "time_in", _EMBEDDER_LEAVES),
    Rule("time_text_embed.text_embedder", "vector_in", _EMBEDDER_LEAVES),
    Rule("time_text_embed.guidance_embedder", "guidance_in", _EMBEDDER_LEAVES),
    Rule("norm_out.linear", "final_layer.adaLN_modulation.1"),
    Rule("proj_out", "final_layer.linear"),
)

# first path segments that only occur in the native naming
FLUX_NATIVE_ROOTS = frozenset({"double_blocks", "single_blocks", "img_in", "txt_in", "time_in", "vector_in",
                               "guidance_in", "final_layer"})

# compound segment names of both namings (to undo kohya's `.` -> `_` flattening)
FLUX_VOCABULARY = frozenset({
    # diffusers
    "transformer_blocks", "single_transformer_blocks", "norm1_context", "to_q", "to_k", "to_v", "to_out",
    "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out", "norm_q", "norm_k", "norm_added_q", "norm_added_k",
    "ff_context", "proj_mlp", "proj_out", "norm_out", "x_embedder", "context_embedder", "time_text_embed",
    "timestep_embedder", "text_embedder", "guidance_embedder", "linear_1", "linear_2", "added_qkv", "qkv_mlp",
    # native
    "double_blocks", "single_blocks", "img_mod", "txt_mod", "img_attn", "txt_attn", "img_mlp", "txt_mlp",
    "query_norm", "key_norm", "img_in", "txt_in", "time_in", "vector_in", "guidance_in", "in_layer", "out_layer",
    "final_layer", "adaLN_modulation",
})

# the modulation whose output halves (scale, shift in diffusers; shift, scale natively) swap
SWAPPED_HALVES = ("norm_out.linear",)

_NORM_LEAVES = ("norm_q", "norm_k", "norm_added_q", "norm_added_k")


def flux_fusions(part: str, formats: Iterable[str], mlp_ratio: int = 4) -> tuple[Fusion, ...]:
    """The three fused groups of a Flux-style transformer, for the given ModelFormat names."""
    formats = frozenset(formats)
    single = "single_transformer_blocks.{i}."
    return (
        Fusion(part, "transformer_blocks.{i}.attn.to_q|to_k|to_v", "transformer_blocks.{i}.attn.qkv", formats),
        Fusion(part, "transformer_blocks.{i}.attn.add_q_proj|add_k_proj|add_v_proj",
               "transformer_blocks.{i}.attn.added_qkv", formats),
        Fusion(part, (f"{single}attn.to_q", f"{single}attn.to_k", f"{single}attn.to_v", f"{single}proj_mlp"),
               f"{single}qkv_mlp", formats, ratios=(1, 1, 1, mlp_ratio)),
    )


@dataclass(frozen=True)
class FluxLayout:
    double_blocks: int
    single_blocks: int

    @classmethod
    def from_config(cls, config: Mapping) -> FluxLayout:
        return cls(int(config["num_layers"]), int(config["num_single_layers"]))


_MAPS: dict[tuple, PrefixMap] = {}


def _build_map(layout: FluxLayout, embedder_rules: tuple[Rule, ...]) -> PrefixMap:
    rules = list(embedder_rules)
    rules += [Rule(f"transformer_blocks.{i}", f"double_blocks.{i}", DOUBLE_BLOCK_LEAVES)
              for i in range(layout.double_blocks)]
    rules += [Rule(f"single_transformer_blocks.{i}", f"single_blocks.{i}", SINGLE_BLOCK_LEAVES)
              for i in range(layout.single_blocks)]
    return PrefixMap(rules)


def flux_map(layout: FluxLayout, embedder_rules: tuple[Rule, ...] = FLUX_EMBEDDER_RULES) -> PrefixMap:
    key = (layout, tuple(id(rule) for rule in embedder_rules))  # rules hold dicts: cached by identity
    if key not in _MAPS:
        _MAPS[key] = _build_map(layout, tuple(embedder_rules))
    return _MAPS[key]


def native_map_factory(default: FluxLayout, embedder_rules: tuple[Rule, ...] = FLUX_EMBEDDER_RULES):
    """`FamilyKeymap.native_map` for a family whose real model has the `default` block counts."""
    def build(config: Mapping | None) -> PrefixMap:
        return flux_map(default if config is None else FluxLayout.from_config(config), embedder_rules)
    return build


# ---------------------------------------------------------------- whole state dicts
def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def fuse_weights(state_dict: Mapping[str, torch.Tensor], fusions: Iterable[Fusion]) -> dict[str, torch.Tensor]:
    """Stack the weights (and biases) of each fusion's sources into its target module, in order."""
    out = dict(state_dict)
    for fusion in fusions:
        groups: dict[tuple, dict[int, str]] = {}
        for key in list(out):
            module, _, param = key.rpartition(".")
            hit = fusion.match_source(module)
            if hit is not None:
                index, values = hit
                groups.setdefault((tuple(sorted(values.items())), param), {})[index] = key
        for (values, param), members in groups.items():
            if len(members) != len(fusion.sources):
                raise KeyError(f"fusing {fusion.target} needs all of {fusion.sources}; found {sorted(members.values())}")
            target = f"{fusion.target_path(dict(values))}.{param}"
            out[target] = torch.cat([out.pop(members[i]) for i in range(len(fusion.sources))], dim=0)
    return out


def split_weights(state_dict: Mapping[str, torch.Tensor], fusions: Iterable[Fusion]) -> dict[str, torch.Tensor]:
    """The inverse of `fuse_weights`: each fused weight split back into its sources by the ratios."""
    out = dict(state_dict)
    for fusion in fusions:
        for key in list(out):
            module, _, param = key.rpartition(".")
            values = fusion.match_target(module)
            if values is None:
                continue
            tensor = out.pop(key)
            pieces = torch.split(tensor, fusion.split_sizes(tensor.shape[0]), dim=0)
            for source, piece in zip(fusion.source_paths(values), pieces, strict=True):
                out[f"{source}.{param}"] = piece.clone()
    return out


def to_original(state_dict: Mapping[str, torch.Tensor], layout: FluxLayout,
                embedder_rules: tuple[Rule, ...] = FLUX_EMBEDDER_RULES, part: str = "transformer"
                ) -> dict[str, torch.Tensor]:
    """diffusers transformer state dict -> native keys, fused where the native model fuses."""
    native = flux_map(layout, embedder_rules)
    fused = fuse_weights(state_dict, flux_fusions(part, ()))
    out = {}
    for key, value in fused.items():
        module, _, param = key.rpartition(".")
        if module in SWAPPED_HALVES:
            value = _swap_halves(value)
        if module.rpartition(".")[2] in _NORM_LEAVES and param == "weight":
            param = "scale"
        out[f"{native.forward(module)}.{param}"] = value
    return out


def from_original(state_dict: Mapping[str, torch.Tensor], layout: FluxLayout,
                  embedder_rules: tuple[Rule, ...] = FLUX_EMBEDDER_RULES, part: str = "transformer"
                  ) -> dict[str, torch.Tensor]:
    """Native keys -> the diffusers transformer state dict (the inverse of `to_original`)."""
    native = flux_map(layout, embedder_rules)
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        module = native.backward(module)
        if module in SWAPPED_HALVES:
            value = _swap_halves(value)
        if module.rpartition(".")[2] in _NORM_LEAVES and param == "scale":
            param = "weight"
        renamed[f"{module}.{param}"] = value
    return split_weights(renamed, flux_fusions(part, ()))


# ---------------------------------------------------------------- T5 text encoder names
T5_VOCABULARY = frozenset({"relative_attention_bias", "layer_norm", "final_layer_norm", "wi_0", "wi_1"})


def t5_text_encoder(part: str, kohya_prefix: str, comfy_name: str | None = "t5xxl", embedding_key: str = "t5",
                    bundle_key: str = "t5", read_prefixes: tuple[str, ...] = ()) -> TextEncoderKeys:
    """File names of a T5 encoder: transformers' module paths (`encoder.block.0.layer.0.SelfAttention.q`)."""
    return TextEncoderKeys(part=part, kohya_prefix=kohya_prefix, comfy_name=comfy_name,
                           embedding_key=embedding_key, bundle_key=bundle_key, read_prefixes=read_prefixes)
