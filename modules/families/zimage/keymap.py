"""File-format names of Z-Image.

Z-Image's released transformer checkpoint uses the diffusers names, so ORIGINAL_TRANSFORMER (and
LEGACY_SAFETENSORS) hold the transformer's own state dict, and every adapter convention names the
transformer's modules that way too, q/k/v split (ComfyUI maps such adapters onto its own layout when
it loads them). Only the full-model COMFY_TRANSFORMER file has ComfyUI's layout: each attention's
q/k/v projections fused into `qkv`, its output projection `out`, its q/k RMSNorms `q_norm`/`k_norm`,
and the patch embedder and final layer without their `all_x_embedder.2-1` / `all_final_layer.2-1`
wrappers (`x_embedder`, `final_layer`). Adapter files in ComfyUI's names are read as well.
LEGACY_LORA keeps the in-memory names."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import torch

from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule, UnmappedPathError

# Z-Image (Turbo / Base): 30 main layers, 2 noise and 2 context refiner layers
Z_IMAGE_LAYERS = 30
Z_IMAGE_REFINER_LAYERS = 2
PATCH_KEY = "2-1"  # the ModuleDict key of the (patch 2, frame patch 1) embedder and final layer

BLOCKS = ("layers", "noise_refiner", "context_refiner")
ATTENTION_LEAVES = {
    "attention.to_out.0": "attention.out",
    "attention.norm_q": "attention.q_norm",
    "attention.norm_k": "attention.k_norm",
}
COMFY_ROOTS = frozenset({*BLOCKS, "x_embedder", "final_layer", "t_embedder", "cap_embedder"})
# first segments of the transformer's module names in adapter files: released names, or ComfyUI's
NATIVE_ROOTS = COMFY_ROOTS | {"all_x_embedder", "all_final_layer"}
VOCABULARY = frozenset({
    *BLOCKS, "x_embedder", "final_layer", "t_embedder", "cap_embedder", "feed_forward", "adaLN_modulation",
    "all_x_embedder", "all_final_layer", "to_q", "to_k", "to_v", "to_out", "norm_q", "norm_k", "q_norm", "k_norm",
    "attention_norm1", "attention_norm2", "ffn_norm1", "ffn_norm2",
})
PAD_TOKENS = ("x_pad_token", "cap_pad_token")

# the one format that stores q/k/v fused (adapter files other tools wrote fused are split when read)
FUSED_FORMATS = frozenset({"COMFY_TRANSFORMER"})


def _counts(config: Mapping | None) -> tuple[int, int]:
    if config is None:
        return Z_IMAGE_LAYERS, Z_IMAGE_REFINER_LAYERS
    return int(config.get("n_layers", Z_IMAGE_LAYERS)), int(config.get("n_refiner_layers", Z_IMAGE_REFINER_LAYERS))


@cache
def _native_map(layers: int, refiners: int) -> PrefixMap:
    rules = [
        Rule(f"all_x_embedder.{PATCH_KEY}", "x_embedder"),
        Rule(f"all_final_layer.{PATCH_KEY}", "final_layer"),
        Rule("t_embedder", "t_embedder"),
        Rule("cap_embedder", "cap_embedder"),
    ]
    for block, count in (("layers", layers), ("noise_refiner", refiners), ("context_refiner", refiners)):
        rules += [Rule(f"{block}.{i}", f"{block}.{i}", ATTENTION_LEAVES) for i in range(count)]
    return PrefixMap(rules)


def comfy_map(config: Mapping | None) -> PrefixMap:
    """diffusers <-> ComfyUI module paths of a transformer with `config` (None: the released model's)."""
    return _native_map(*_counts(config))


class ReleasedNames(PrefixMap):
    """Adapter files: written with the released (diffusers) module names; read from those or from
    ComfyUI's."""

    def __init__(self, comfy: PrefixMap):
        super().__init__(())
        self._comfy = comfy

    def forward(self, path: str) -> str:
        return path

    def backward(self, path: str) -> str:
        try:
            return self._comfy.backward(path)
        except UnmappedPathError:  # a released name without a ComfyUI counterpart (all_x_embedder.2-1)
            return path


@cache
def _released(layers: int, refiners: int) -> ReleasedNames:
    return ReleasedNames(_native_map(layers, refiners))


def native_map(config: Mapping | None) -> PrefixMap:
    """The names adapter files give the transformer's modules."""
    return _released(*_counts(config))


def qkv_fusions(formats: frozenset[str]) -> tuple[Fusion, ...]:
    return tuple(Fusion("transformer", f"{block}.{{i}}.attention.to_q|to_k|to_v", f"{block}.{{i}}.attention.qkv",
                        formats=formats) for block in BLOCKS)


_QKV = tuple((fusion, fusion.sources) for fusion in qkv_fusions(FUSED_FORMATS))


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """ORIGINAL_TRANSFORMER: the released checkpoint's names are the diffusers ones."""
    return {k: v.detach() for k, v in state_dict.items()}


def transformer_to_comfy(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """COMFY_TRANSFORMER: ComfyUI names, q/k/v weights stacked in that order into `attention.qkv`."""
    names = comfy_map(config)
    out: dict[str, torch.Tensor] = {}
    fused: set[str] = set()
    for key, value in state_dict.items():
        if key in PAD_TOKENS:
            out[key] = value.detach()
            continue
        module, _, param = key.rpartition(".")
        for fusion, _sources in _QKV:
            hit = fusion.match_source(module)
            if hit is not None:
                target = fusion.target_path(hit[1])
                if target not in fused:
                    fused.add(target)
                    out[f"{names.forward(target)}.{param}"] = torch.cat(
                        [state_dict[f"{source}.{param}"].detach() for source in fusion.source_paths(hit[1])])
                break
        else:
            out[f"{names.forward(module)}.{param}"] = value.detach()
    return out


def transformer_from_comfy(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The inverse of `transformer_to_comfy`."""
    names = comfy_map(config)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key in PAD_TOKENS:
            out[key] = value
            continue
        module, _, param = key.rpartition(".")
        module = names.backward(module)
        for fusion, _sources in _QKV:
            hit = fusion.match_target(module)
            if hit is not None:
                for source, chunk in zip(fusion.source_paths(hit), value.chunk(len(fusion.sources)), strict=True):
                    out[f"{source}.{param}"] = chunk
                break
        else:
            out[f"{module}.{param}"] = value
    return out


QWEN3 = TextEncoderKeys(part="text_encoder", kohya_prefix="lora_te", comfy_name="qwen3_4b", embedding_key="qwen3",
                        bundle_key="qwen3")

Z_IMAGE = FamilyKeymap(
    name="zimage",
    model_types=frozenset({"Z_IMAGE"}),
    denoiser="transformer",
    text_encoders=(QWEN3,),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    legacy_lora_canonical=True,
    single_file=(
        SingleFileComponent("transformer", "", transformer_to_original),
        SingleFileComponent("transformer", "", transformer_to_comfy, formats=frozenset({"COMFY_TRANSFORMER"})),
    ),
    pipelines={"Z_IMAGE": "ZImagePipeline"},
    fusions=qkv_fusions(FUSED_FORMATS),
)

KEYMAPS = (Z_IMAGE,)
