"""File-format names of HunyuanVideo. The released transformer (Tencent's layout) fuses what diffusers'
`HunyuanVideoTransformer3DModel` splits, and names its modules differently:

    context_embedder.token_refiner.refiner_blocks.{i}   txt_in.individual_token_refiner.blocks.{i}
        attn.to_q/k/v -> attn.qkv                           self_attn_qkv
        attn.to_out.0 / ff.net.0.proj / norm_out.linear     self_attn_proj / mlp.fc1 / adaLN_modulation.1
    transformer_blocks.{i}                              double_blocks.{i}
        attn.to_q/k/v -> attn.qkv                           img_attn_qkv
        attn.add_q/k/v_proj -> attn.added_qkv               txt_attn_qkv
        norm1.linear / ff.net.0.proj                        img_mod.linear / img_mlp.fc1
    single_transformer_blocks.{i}                       single_blocks.{i}
        attn.to_q/k/v + proj_mlp -> qkv_mlp                 linear1
        proj_out / norm.linear                              linear2 / modulation.linear
    time_text_embed.{timestep,guidance,text}_embedder   time_in.mlp / guidance_in.mlp / vector_in
    norm_out.linear / proj_out                          final_layer.adaLN_modulation.1 / final_layer.linear

The final modulation holds its (scale, shift) halves in the other order natively. Text encoders keep
their transformers names: Llama (`lora_te1`, ComfyUI `llama`) and CLIP-L (`lora_te2`, `clip_l`)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from modules.families.parts import llama
from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.families.parts.flux_layout import fuse_weights, split_weights
from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

# the released model: 20 double blocks, 40 single blocks, 2 token-refiner blocks
DEFAULT_LAYOUT = {"num_layers": 20, "num_single_layers": 40, "num_refiner_layers": 2}

_EMBEDDER_LEAVES = {"linear_1": "mlp.0", "linear_2": "mlp.2"}
CONTEXT_EMBEDDER_LEAVES = {
    "proj_in": "input_embedder",
    "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
    "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
    "time_text_embed.text_embedder": "c_embedder",
}
REFINER_LEAVES = {
    "attn.qkv": "self_attn_qkv",
    "attn.to_out.0": "self_attn_proj",
    "ff.net.0.proj": "mlp.fc1",
    "ff.net.2": "mlp.fc2",
    "norm_out.linear": "adaLN_modulation.1",
}
DOUBLE_BLOCK_LEAVES = {
    "norm1.linear": "img_mod.linear",
    "norm1_context.linear": "txt_mod.linear",
    "attn.qkv": "img_attn_qkv",
    "attn.added_qkv": "txt_attn_qkv",
    "attn.norm_q": "img_attn_q_norm",
    "attn.norm_k": "img_attn_k_norm",
    "attn.norm_added_q": "txt_attn_q_norm",
    "attn.norm_added_k": "txt_attn_k_norm",
    "attn.to_out.0": "img_attn_proj",
    "attn.to_add_out": "txt_attn_proj",
    "ff.net.0.proj": "img_mlp.fc1",
    "ff.net.2": "img_mlp.fc2",
    "ff_context.net.0.proj": "txt_mlp.fc1",
    "ff_context.net.2": "txt_mlp.fc2",
}
SINGLE_BLOCK_LEAVES = {
    "qkv_mlp": "linear1",
    "proj_out": "linear2",
    "norm.linear": "modulation.linear",
    "attn.norm_q": "q_norm",
    "attn.norm_k": "k_norm",
}
TOP_RULES = (
    Rule("x_embedder", "img_in"),
    Rule("context_embedder", "txt_in", CONTEXT_EMBEDDER_LEAVES),
    Rule("time_text_embed.timestep_embedder", "time_in", _EMBEDDER_LEAVES),
    Rule("time_text_embed.guidance_embedder", "guidance_in", _EMBEDDER_LEAVES),
    Rule("time_text_embed.text_embedder", "vector_in", {"linear_1": "in_layer", "linear_2": "out_layer"}),
    Rule("norm_out.linear", "final_layer.adaLN_modulation.1"),
    Rule("proj_out", "final_layer.linear"),
)

NATIVE_ROOTS = frozenset({"img_in", "txt_in", "time_in", "guidance_in", "vector_in", "double_blocks",
                          "single_blocks", "final_layer"})

TRANSFORMER_VOCABULARY = frozenset({
    # diffusers
    "x_embedder", "context_embedder", "proj_in", "time_text_embed", "timestep_embedder", "text_embedder",
    "guidance_embedder", "linear_1", "linear_2", "token_refiner", "refiner_blocks", "to_q", "to_k", "to_v",
    "to_out", "norm_out", "transformer_blocks", "single_transformer_blocks", "norm1_context", "add_q_proj",
    "add_k_proj", "add_v_proj", "to_add_out", "norm_q", "norm_k", "norm_added_q", "norm_added_k", "ff_context",
    "proj_mlp", "proj_out", "added_qkv", "qkv_mlp",
    # native
    "img_in", "txt_in", "time_in", "guidance_in", "vector_in", "in_layer", "out_layer", "input_embedder",
    "t_embedder", "c_embedder", "individual_token_refiner", "self_attn_qkv", "self_attn_proj", "adaLN_modulation",
    "double_blocks", "single_blocks", "img_mod", "txt_mod", "img_attn_qkv", "txt_attn_qkv", "img_attn_q_norm",
    "img_attn_k_norm", "txt_attn_q_norm", "txt_attn_k_norm", "img_attn_proj", "txt_attn_proj", "img_mlp",
    "txt_mlp", "q_norm", "k_norm", "final_layer",
})

SWAPPED_HALVES = frozenset({"norm_out.linear"})

# adapter conventions that name the transformer natively store the fused projections
FUSED_FORMATS = frozenset({"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})


def hunyuan_fusions(formats: Iterable[str], mlp_ratio: float = 4.0) -> tuple[Fusion, ...]:
    """The four fused groups of the transformer, for the given ModelFormat names."""
    formats = frozenset(formats)
    refiner = "context_embedder.token_refiner.refiner_blocks.{i}.attn."
    single = "single_transformer_blocks.{i}."
    return (
        Fusion("transformer", refiner + "to_q|to_k|to_v", refiner + "qkv", formats),
        Fusion("transformer", "transformer_blocks.{i}.attn.to_q|to_k|to_v", "transformer_blocks.{i}.attn.qkv",
               formats),
        Fusion("transformer", "transformer_blocks.{i}.attn.add_q_proj|add_k_proj|add_v_proj",
               "transformer_blocks.{i}.attn.added_qkv", formats),
        Fusion("transformer", (f"{single}attn.to_q", f"{single}attn.to_k", f"{single}attn.to_v", f"{single}proj_mlp"),
               f"{single}qkv_mlp", formats, ratios=(1, 1, 1, int(mlp_ratio))),
    )


_MAPS: dict[tuple[int, int, int], PrefixMap] = {}


def _counts(config: Mapping | None) -> tuple[int, int, int]:
    config = DEFAULT_LAYOUT if config is None else config
    return int(config["num_layers"]), int(config["num_single_layers"]), int(config["num_refiner_layers"])


def native_map(config: Mapping | None) -> PrefixMap:
    counts = _counts(config)
    if counts not in _MAPS:
        double, single, refiner = counts
        rules = list(TOP_RULES)
        rules += [Rule(f"context_embedder.token_refiner.refiner_blocks.{i}",
                       f"txt_in.individual_token_refiner.blocks.{i}", REFINER_LEAVES) for i in range(refiner)]
        rules += [Rule(f"transformer_blocks.{i}", f"double_blocks.{i}", DOUBLE_BLOCK_LEAVES) for i in range(double)]
        rules += [Rule(f"single_transformer_blocks.{i}", f"single_blocks.{i}", SINGLE_BLOCK_LEAVES)
                  for i in range(single)]
        _MAPS[counts] = PrefixMap(rules)
    return _MAPS[counts]


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _mlp_ratio(config: Mapping | None) -> float:
    return float((config or {}).get("mlp_ratio", 4.0))


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers transformer state dict -> the released layout (fused, natively named, final halves swapped)."""
    names = native_map(config)
    fused = fuse_weights(state_dict, hunyuan_fusions((), _mlp_ratio(config)))
    out = {}
    for key, value in fused.items():
        module, _, param = key.rpartition(".")
        out[f"{names.forward(module)}.{param}"] = _swap_halves(value) if module in SWAPPED_HALVES else value
    return out


def transformer_from_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The inverse of `transformer_to_original`."""
    names = native_map(config)
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        module = names.backward(module)
        renamed[f"{module}.{param}"] = _swap_halves(value) if module in SWAPPED_HALVES else value
    return split_weights(renamed, hunyuan_fusions((), _mlp_ratio(config)))


def _swapped_outputs(config: Mapping | None) -> frozenset[str]:
    return SWAPPED_HALVES


HUNYUAN_VIDEO = FamilyKeymap(
    name="hunyuan_video",
    model_types=frozenset({"HUNYUAN_VIDEO"}),
    denoiser="transformer",
    text_encoders=(
        TextEncoderKeys(part="text_encoder", kohya_prefix="lora_te1", comfy_name="llama", embedding_key="llama",
                        bundle_key="llama"),
        clip_text_encoder("text_encoder_2", "lora_te2", "clip_l", "clip_l", "clip_l"),
    ),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=TRANSFORMER_VOCABULARY | CLIP_VOCABULARY | llama.VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone, natively named, fused
    single_file=(SingleFileComponent("transformer", "", transformer_to_original,
                                     from_original=transformer_from_original),),
    pipelines={"HUNYUAN_VIDEO": "HunyuanVideoPipeline"},
    fusions=hunyuan_fusions(FUSED_FORMATS),
    legacy_denoiser_prefix="lora_transformer",
    swapped_outputs=_swapped_outputs,
)

KEYMAPS = (HUNYUAN_VIDEO,)
