"""The original Stability MMDiT layout (SD3 / SD3.5) of diffusers' SD3Transformer2DModel.

Native files name the transformer `joint_blocks.{i}.x_block.*` (image stream) and
`joint_blocks.{i}.context_block.*` (text stream), fuse each attention's q/k/v into one `qkv` linear
and store the adaLN modulation of the final layer (and of the last block's text stream, which only
modulates) as (shift, scale) where diffusers keeps (scale, shift).

In diffusers naming the fused modules are called `attn.qkv` (image q/k/v), `attn.added_qkv` (text
q/k/v) and `attn2.qkv` (the second image attention of SD3.5's dual-attention blocks); the family's
fusions produce them from the split projections.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.formats.prefix_map import PrefixMap, Rule

MMDIT_ROOTS = frozenset({"joint_blocks", "x_embedder", "t_embedder", "y_embedder", "context_embedder",
                         "final_layer"})

# compound segment names of both namings, to undo `_` flattening
MMDIT_VOCABULARY = frozenset({
    # diffusers
    "transformer_blocks", "time_text_embed", "timestep_embedder", "text_embedder", "linear_1", "linear_2",
    "context_embedder", "pos_embed", "norm1_context", "ff_context", "to_q", "to_k", "to_v", "to_out",
    "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out", "norm_out", "proj_out", "added_qkv",
    "norm_q", "norm_k", "norm_added_q", "norm_added_k",
    # native
    "joint_blocks", "x_block", "context_block", "adaLN_modulation", "x_embedder", "t_embedder", "y_embedder",
    "final_layer", "ln_q", "ln_k",
})

# module leaves inside `transformer_blocks.{i}` -> inside `joint_blocks.{i}`
_BLOCK_MODULES = {
    "norm1.linear": "x_block.adaLN_modulation.1",
    "norm1_context.linear": "context_block.adaLN_modulation.1",
    "attn.qkv": "x_block.attn.qkv",
    "attn.to_out.0": "x_block.attn.proj",
    "attn.added_qkv": "context_block.attn.qkv",
    "attn.to_add_out": "context_block.attn.proj",
    "attn2.qkv": "x_block.attn2.qkv",
    "attn2.to_out.0": "x_block.attn2.proj",
    "ff.net.0.proj": "x_block.mlp.fc1",
    "ff.net.2": "x_block.mlp.fc2",
    "ff_context.net.0.proj": "context_block.mlp.fc1",
    "ff_context.net.2": "context_block.mlp.fc2",
}
# qk-norm weights (SD3.5), only in full state dicts
_BLOCK_NORMS = {
    "attn.norm_q": "x_block.attn.ln_q",
    "attn.norm_k": "x_block.attn.ln_k",
    "attn.norm_added_q": "context_block.attn.ln_q",
    "attn.norm_added_k": "context_block.attn.ln_k",
    "attn2.norm_q": "x_block.attn2.ln_q",
    "attn2.norm_k": "x_block.attn2.ln_k",
}
_OUTER = (
    Rule("pos_embed", "x_embedder"),
    Rule("time_text_embed.timestep_embedder", "t_embedder", {"linear_1": "mlp.0", "linear_2": "mlp.2"}),
    Rule("time_text_embed.text_embedder", "y_embedder", {"linear_1": "mlp.0", "linear_2": "mlp.2"}),
    Rule("context_embedder", "context_embedder"),
    Rule("norm_out", "final_layer", {"linear": "adaLN_modulation.1"}),
    Rule("proj_out", "final_layer.linear"),
)

# the diffusers q/k/v projections stored fused, per block: (sources, fused name)
QKV_GROUPS = (
    (("attn.to_q", "attn.to_k", "attn.to_v"), "attn.qkv"),
    (("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"), "attn.added_qkv"),
    (("attn2.to_q", "attn2.to_k", "attn2.to_v"), "attn2.qkv"),
)


def mmdit_map(num_layers: int) -> PrefixMap:
    """diffusers <-> native module paths of a transformer with `num_layers` joint blocks."""
    leaves = {**_BLOCK_MODULES, **_BLOCK_NORMS}
    blocks = [Rule(f"transformer_blocks.{i}", f"joint_blocks.{i}", leaves) for i in range(num_layers)]
    return PrefixMap([*_OUTER, *blocks])


def mmdit_native_map(default_layers: int):
    """The key map's `native_map`: the transformer config's block count, else the real model's."""
    def native_map(config: Mapping | None) -> PrefixMap:
        return mmdit_map(int((config or {}).get("num_layers", default_layers)))

    return native_map


def swapped_modules(default_layers: int):
    """The key map's `swapped_outputs`: modules whose native weights hold (shift, scale) where
    diffusers holds (scale, shift): the final layer's modulation and the last block's text stream."""
    def swapped(config: Mapping | None) -> frozenset[str]:
        last = int((config or {}).get("num_layers", default_layers)) - 1
        return frozenset({"norm_out.linear", f"transformer_blocks.{last}.norm1_context.linear"})

    return swapped


def swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def mmdit_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """A diffusers SD3Transformer2DModel state dict in the original MMDiT key layout."""
    num_layers = int(config["num_layers"])
    source = dict(state_dict)
    for i in range(num_layers):
        for sources, fused in QKV_GROUPS:
            for param in ("weight", "bias"):
                keys = [f"transformer_blocks.{i}.{s}.{param}" for s in sources]
                if all(k in source for k in keys):
                    source[f"transformer_blocks.{i}.{fused}.{param}"] = torch.cat([source.pop(k) for k in keys])
    swapped = swapped_modules(num_layers)(config)
    layout = mmdit_map(num_layers)
    out: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        if key == "pos_embed.pos_embed":
            out["pos_embed"] = value
            continue
        module, _, param = key.rpartition(".")
        if module in swapped:
            value = swap_halves(value)
        out[f"{layout.forward(module)}.{param}"] = value
    return out
