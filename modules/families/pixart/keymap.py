"""File-format names of PixArt-α and PixArt-Σ. The native (PixArt) transformer names:

    pos_embed.proj                                x_embedder.proj
    adaln_single.emb.timestep_embedder.linear_1/2 t_embedder.mlp.0/2
    adaln_single.emb.resolution_embedder.*        csize_embedder.mlp.0/2      (α)
    adaln_single.emb.aspect_ratio_embedder.*      ar_embedder.mlp.0/2         (α)
    adaln_single.linear                           t_block.1
    caption_projection.linear_1/2                 y_embedder.y_proj.fc1/fc2
    transformer_blocks.{i}                        blocks.{i}
        attn1.to_q/to_k/to_v                          attn.qkv               (fused)
        attn1.to_out.0                                attn.proj
        attn2.to_q                                    cross_attn.q_linear
        attn2.to_k/to_v                               cross_attn.kv_linear   (fused)
        attn2.to_out.0                                cross_attn.proj
        ff.net.0.proj / ff.net.2                      mlp.fc1 / mlp.fc2
    proj_out                                      final_layer.linear
    scale_shift_table                             final_layer.scale_shift_table

Native adapter files (KOHYA, ORIGINAL, COMFY) and the ORIGINAL_TRANSFORMER file use these names;
the transformer file also carries the fixed sin-cos `pos_embed` the original model keeps."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache

import torch

from modules.families.parts.flux_layout import T5_VOCABULARY, fuse_weights, split_weights, t5_text_encoder
from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent
from modules.formats.prefix_map import PrefixMap, Rule

PIXART_LAYERS = 28  # the released models

_MLP = {"linear_1": "mlp.0", "linear_2": "mlp.2"}
BLOCK_LEAVES = {
    "attn1.qkv": "attn.qkv",
    "attn1.to_out.0": "attn.proj",
    "attn2.to_q": "cross_attn.q_linear",
    "attn2.kv": "cross_attn.kv_linear",
    "attn2.to_out.0": "cross_attn.proj",
    "ff.net.0.proj": "mlp.fc1",
    "ff.net.2": "mlp.fc2",
}
EMBEDDER_RULES = (
    Rule("pos_embed", "x_embedder"),
    Rule("adaln_single.emb.timestep_embedder", "t_embedder", _MLP),
    Rule("adaln_single.emb.resolution_embedder", "csize_embedder", _MLP),
    Rule("adaln_single.emb.aspect_ratio_embedder", "ar_embedder", _MLP),
    Rule("adaln_single.linear", "t_block.1"),
    Rule("caption_projection", "y_embedder.y_proj", {"linear_1": "fc1", "linear_2": "fc2"}),
    Rule("proj_out", "final_layer.linear"),
)
FINAL_TABLE = "final_layer.scale_shift_table"
POS_EMBED = "pos_embed"

NATIVE_ROOTS = frozenset({"blocks", "x_embedder", "t_embedder", "csize_embedder", "ar_embedder", "t_block",
                          "y_embedder", "final_layer"})
VOCABULARY = T5_VOCABULARY | frozenset({
    # diffusers
    "transformer_blocks", "pos_embed", "adaln_single", "timestep_embedder", "resolution_embedder",
    "aspect_ratio_embedder", "caption_projection", "linear_1", "linear_2", "proj_out", "to_q", "to_k", "to_v",
    "to_out",
    # native
    "x_embedder", "t_embedder", "csize_embedder", "ar_embedder", "t_block", "y_embedder", "y_proj", "final_layer",
    "cross_attn", "q_linear", "kv_linear",
})

# adapter conventions that name the transformer natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


def fusions(formats) -> tuple[Fusion, ...]:
    return (Fusion("transformer", "transformer_blocks.{i}.attn1.to_q|to_k|to_v", "transformer_blocks.{i}.attn1.qkv",
                   formats),
            Fusion("transformer", "transformer_blocks.{i}.attn2.to_k|to_v", "transformer_blocks.{i}.attn2.kv", formats))


@cache
def _map(layers: int) -> PrefixMap:
    rules = [*EMBEDDER_RULES]
    rules += [Rule(f"transformer_blocks.{i}", f"blocks.{i}", BLOCK_LEAVES) for i in range(layers)]
    return PrefixMap(rules)


def native_map(config: Mapping | None) -> PrefixMap:
    return _map(PIXART_LAYERS if config is None else int(config["num_layers"]))


def pos_embed(config: Mapping) -> torch.Tensor:
    """The fixed sin-cos position table [1, (size / patch)², width] the original model stores."""
    from diffusers.models.embeddings import get_2d_sincos_pos_embed

    size, patch = int(config["sample_size"]), int(config["patch_size"])
    scale = config.get("interpolation_scale") or max(size // 64, 1)
    width = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    table = get_2d_sincos_pos_embed(width, size // patch, base_size=size // patch, interpolation_scale=scale,
                                    output_type="pt")
    return table.float().unsqueeze(0)


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers transformer -> native keys: q/k/v and cross-attention k/v fused, plus `pos_embed`."""
    native = native_map(config)
    out = {}
    for key, value in fuse_weights(state_dict, fusions(())).items():
        if key == "scale_shift_table":
            out[FINAL_TABLE] = value
            continue
        module, _, param = key.rpartition(".")
        out[f"{native.forward(module)}.{param}"] = value
    out[POS_EMBED] = pos_embed(config)
    return out


def transformer_from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The inverse of `transformer_to_original` (the fixed `pos_embed` and the original's null caption
    `y_embedder.y_embedding`, which diffusers does not keep, are dropped)."""
    native = native_map(config)
    renamed = {}
    for key, value in state_dict.items():
        if key in (POS_EMBED, "y_embedder.y_embedding"):
            continue
        if key == FINAL_TABLE:
            renamed["scale_shift_table"] = value
            continue
        module, _, param = key.rpartition(".")
        renamed[f"{native.backward(module)}.{param}"] = value
    return split_weights(renamed, fusions(()))


PIXART = FamilyKeymap(
    name="pixart",
    model_types=frozenset({"PIXART_ALPHA", "PIXART_SIGMA"}),
    denoiser="transformer",
    # LEGACY_LORA names the single T5 `lora_te`, KOHYA_LORA `lora_te1`
    text_encoders=(dataclasses.replace(t5_text_encoder("text_encoder", "lora_te1"), legacy_prefix="lora_te"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"PIXART_ALPHA": "PixArtAlphaPipeline", "PIXART_SIGMA": "PixArtSigmaPipeline"},
    fusions=fusions(FUSED_FORMATS),
    legacy_denoiser_prefix="lora_transformer",
)

KEYMAPS = (PIXART,)
