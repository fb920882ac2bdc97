"""File-format names of Stable Cascade. The native names are those of the original (StabilityAI) stage C
as ComfyUI loads it: the same module tree as diffusers' `StableCascadeUNet`, except in the attention
blocks, where diffusers' `attention.to_q/to_k/to_v` and `attention.to_out.0` are
`attention.attn.to_q/to_k/to_v` and `attention.attn.out_proj`:

    down_blocks.{i}.{j}.attention.to_q        down_blocks.{i}.{j}.attention.attn.to_q   (k, v alike)
    down_blocks.{i}.{j}.attention.to_out.0    down_blocks.{i}.{j}.attention.attn.out_proj
    (up_blocks alike; every other module keeps its name)

KOHYA, ORIGINAL and COMFY adapter files use the native names; LEGACY_LORA flattens them under
`lora_prior_unet_` and the text encoder under `lora_prior_te_`. The LEGACY_SAFETENSORS checkpoint
holds the prior in the original layout, where each attention's q/k/v are one packed
`attention.attn.in_proj_weight` / `in_proj_bias` and the output projection is `attention.attn.out_proj`.
The CLIP text encoder keeps its transformers names (`lora_te` in kohya files); embeddings are `clip_g`."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache

import torch

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.formats.keymap import FamilyKeymap, SingleFileComponent
from modules.formats.prefix_map import PrefixMap, Rule

NATIVE_ROOTS = frozenset({"embedding", "clip_txt_mapper", "clip_txt_pooled_mapper", "clip_img_mapper", "clip_norm",
                          "down_blocks", "down_downscalers", "down_repeat_mappers", "up_blocks", "up_upscalers",
                          "up_repeat_mappers", "clf", "effnet_mapper", "pixels_mapper"})
PRIOR_VOCABULARY = frozenset({
    "clip_txt_mapper", "clip_txt_pooled_mapper", "clip_img_mapper", "clip_norm", "down_blocks", "down_downscalers",
    "down_repeat_mappers", "up_blocks", "up_upscalers", "up_repeat_mappers", "effnet_mapper", "pixels_mapper",
    "kv_mapper", "mapper_crp", "mapper_sca", "to_q", "to_k", "to_v", "to_out", "out_proj",
})
ATTENTION_LEAVES = {"attention.to_q": "attention.attn.to_q", "attention.to_k": "attention.attn.to_k",
                    "attention.to_v": "attention.attn.to_v", "attention.to_out.0": "attention.attn.out_proj"}
MAX_LEVELS, MAX_BLOCKS = 4, 256  # the released stage C: 2 levels of up to 72 blocks


@cache
def _map() -> PrefixMap:
    rules = [Rule(root, root) for root in NATIVE_ROOTS]
    rules += [Rule(f"{side}.{i}.{j}", f"{side}.{i}.{j}", ATTENTION_LEAVES)
              for side in ("down_blocks", "up_blocks") for i in range(MAX_LEVELS) for j in range(MAX_BLOCKS)]
    return PrefixMap(rules)


def native_map(config: Mapping | None) -> PrefixMap:
    return _map()


def prior_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """diffusers stage C -> the original layout: q/k/v packed into `attn.in_proj_*`, `to_out.0` ->
    `attn.out_proj`."""
    out: dict[str, torch.Tensor] = {}
    packed: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        head, found, tail = key.partition(".attention.")
        if not found:
            out[key] = value
            continue
        module, _, param = tail.rpartition(".")
        if module in ("to_q", "to_k", "to_v"):
            packed.setdefault(f"{head}.attention.attn.in_proj_{param}", {})[module] = value
        elif module == "to_out.0":
            out[f"{head}.attention.attn.out_proj.{param}"] = value
        else:
            out[key] = value
    for key, parts in packed.items():
        out[key] = torch.cat([parts["to_q"], parts["to_k"], parts["to_v"]], dim=0)
    return out


def prior_from_original(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `prior_to_original`."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        head, found, tail = key.partition(".attention.attn.")
        if not found:
            out[key] = value
        elif tail.startswith("in_proj_"):
            param = tail[len("in_proj_"):]
            for name, chunk in zip(("to_q", "to_k", "to_v"), value.chunk(3, dim=0), strict=True):
                out[f"{head}.attention.{name}.{param}"] = chunk
        else:
            out[f"{head}.attention.{tail.replace('out_proj', 'to_out.0', 1)}"] = value
    return out


STABLE_CASCADE = FamilyKeymap(
    name="stable_cascade",
    model_types=frozenset({"STABLE_CASCADE_1"}),
    denoiser="prior",
    text_encoders=(dataclasses.replace(clip_text_encoder("text_encoder", "lora_te", None, "clip_g", "clip_g"),
                                       legacy_prefix="lora_prior_te"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=PRIOR_VOCABULARY | CLIP_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    single_file=(SingleFileComponent("prior", "", prior_to_original),),
    pipelines={"STABLE_CASCADE_1": "StableCascadePriorPipeline"},
    legacy_denoiser_prefix="lora_prior_unet",
    legacy_native_denoiser=True,
)

KEYMAPS = (STABLE_CASCADE,)
