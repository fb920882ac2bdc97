"""Adapter (LoRA / LoHa / LoKr / DoRA) files in every OneTrainer output convention.

    keymap = family.keymap   # the model family's FamilyKeymap
    save_lora(path, {"unet": peft_sd, "text_encoder": peft_sd}, alphas=16.0,
              keymap=keymap, fmt=ModelFormat.KOHYA_LORA, metadata=header)
    parts = load_lora(path, keymap)   # any convention -> peft naming

State dicts are what `peft.get_peft_model_state_dict` returns for each model part (keys may also
carry the `<part>.` prefix). Text-encoder paths are written with their `text_model.` level.
Loaded dicts contain `<module>.alpha` entries; `split_alphas` / `rescale_to_alpha` turn them into
inputs for `save_lora` or `peft.set_peft_model_state_dict`.

Writing goes group -> fuse -> encode: modules the family's key map fuses for the chosen convention
(q/k/v -> qkv) become one adapter before the codec names them; reading splits them back.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modules.formats.adapter_fusion import fuse, unfuse
from modules.formats.adapter_tensors import (
    ALPHA,
    DORA_SCALE,
    LORA_DOWN,
    LORA_UP,
    MAGNITUDE,
    AdapterKeyError,
    canonical_tensor,
    flatten,
    group,
    rank_of,
)
from modules.formats.embedding import BUNDLE_PREFIX, bundle_embeddings, unbundle_key
from modules.formats.keymap import FamilyKeymap, require_keymap
from modules.formats.lora_codecs import codec_for, parse_key
from modules.formats.safetensors_io import read_state_dict, write_safetensors

INTERNAL_LORA_FILE = Path("lora") / "lora.safetensors"


def _cast(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    if dtype is None:
        return tensors
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}


def encode_lora(part_state_dicts: Mapping[str, Mapping[str, torch.Tensor]], alphas, keymap: FamilyKeymap, fmt, *,
                embeddings: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
                denoiser_config: Mapping | None = None) -> dict[str, torch.Tensor]:
    """The tensors `save_lora` writes, without writing them."""
    keymap = require_keymap(keymap)
    codec = codec_for(fmt)
    adapters = group(part_state_dicts, alphas, keymap)
    codec.check(adapters, bool(embeddings), keymap)
    adapters = fuse(adapters, keymap.fusions_for(codec.format), codec.format)
    native = keymap.native_map(denoiser_config)
    swapped = _swapped(keymap, denoiser_config) if codec.writes_native_denoiser(keymap) else frozenset()
    tensors: dict[str, torch.Tensor] = {}
    for part, modules in adapters.items():
        for module, module_tensors in modules.items():
            if part == keymap.denoiser and module in swapped:
                module_tensors = _swap_output_halves(module_tensors, f"{part}.{module}")
            tensors.update(codec.encode(keymap, native, part, module, module_tensors))
    tensors.update(bundle_embeddings(embeddings or {}, keymap))
    return tensors


def save_lora(path: str | os.PathLike, part_state_dicts: Mapping[str, Mapping[str, torch.Tensor]], alphas,
              keymap: FamilyKeymap, fmt, metadata: Mapping[str, str] | None = None, *,
              embeddings: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
              denoiser_config: Mapping | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write an adapter file in convention `fmt` (a ModelFormat adapter value) with the family's names.

    alphas: one number for all modules or `{"<part>.<module path>": alpha}`.
    embeddings: `{placeholder: {text encoder part: vectors}}`, bundled as `bundle_emb.*` tensors.
    denoiser_config: the UNet config when it is not the real model's layout (tiny test models).
    """
    tensors = encode_lora(part_state_dicts, alphas, keymap, fmt, embeddings=embeddings,
                          denoiser_config=denoiser_config)
    return write_safetensors(path, _cast(tensors, dtype), metadata)


@dataclass
class LoraFile:
    parts: dict[str, dict[str, torch.Tensor]]  # peft naming, with `<module>.alpha` entries
    embeddings: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    formats: set = field(default_factory=set)  # conventions the keys were recognised as


def _resolve(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():  # an INTERNAL backup folder
        return path / INTERNAL_LORA_FILE
    return path


def decode_lora(tensors: Mapping[str, torch.Tensor], keymap: FamilyKeymap, *,
                denoiser_config: Mapping | None = None) -> LoraFile:
    """File tensors in any convention -> peft naming (fused modules split back into their sources)."""
    keymap = require_keymap(keymap)
    native = keymap.native_map(denoiser_config)
    adapters: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    embeddings: dict[str, dict[str, torch.Tensor]] = {}
    formats = set()
    swapped = _swapped(keymap, denoiser_config)
    natively_named = set()
    for key, value in tensors.items():
        if key.startswith(BUNDLE_PREFIX):
            placeholder, vector_key = unbundle_key(key, keymap)
            embeddings.setdefault(placeholder, {})[vector_key] = value
            continue
        fmt, parsed = parse_key(key, keymap, native)
        formats.add(fmt)
        suffix, value = canonical_tensor(parsed.file_suffix, value)
        module = adapters.setdefault(parsed.part, {}).setdefault(parsed.module, {})
        if suffix in module:
            raise AdapterKeyError(f"{parsed.part}.{parsed.module}.{suffix} appears twice")
        module[suffix] = value
        if parsed.native and parsed.part == keymap.denoiser and parsed.module in swapped:
            natively_named.add(parsed.module)
    for name in natively_named:
        part = adapters[keymap.denoiser]
        part[name] = _swap_output_halves(part[name], f"{keymap.denoiser}.{name}")
    for modules in adapters.values():
        for module_tensors in modules.values():
            # alpha folded into the weights (diffusers convention) reads as alpha == rank
            if ALPHA not in module_tensors and LORA_DOWN in module_tensors:
                module_tensors[ALPHA] = torch.tensor(float(rank_of(module_tensors)))
    adapters = unfuse(adapters, keymap.fusions)
    return LoraFile(parts=flatten(adapters), embeddings=embeddings, formats=formats)


def _swapped(keymap: FamilyKeymap, denoiser_config: Mapping | None) -> frozenset[str]:
    return keymap.swapped_outputs(denoiser_config) if keymap.swapped_outputs is not None else frozenset()


# adapter tensors whose rows are the module's output rows
_OUTPUT_ROWS = (LORA_UP, MAGNITUDE, "hada_w1_a", "hada_w2_a")


def _swap_output_halves(tensors: dict[str, torch.Tensor], module: str) -> dict[str, torch.Tensor]:
    """The adapter of a module whose two output halves trade places (the same delta, rows swapped)."""
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    other = set(tensors) - {*_OUTPUT_ROWS, LORA_DOWN, ALPHA, "hada_w1_b", "hada_w2_b", DORA_SCALE}
    if other:
        raise UnsupportedLoraFormatError(f"the native layout stores the output halves of {module} swapped; "
                                         f"an adapter with {sorted(other)} cannot follow that")
    out = dict(tensors)
    for suffix in _OUTPUT_ROWS:
        if suffix in out:
            value = out[suffix]
            dim = 1 if suffix == MAGNITUDE and value.ndim == 4 else 0
            first, second = value.chunk(2, dim=dim)
            out[suffix] = torch.cat([second, first], dim=dim)
    return out


def read_lora(path: str | os.PathLike, keymap: FamilyKeymap, *, denoiser_config: Mapping | None = None) -> LoraFile:
    """Any supported adapter file (safetensors, torch pickle, INTERNAL backup folder)."""
    keymap = require_keymap(keymap)
    tensors, metadata = read_state_dict(_resolve(path))
    result = decode_lora(tensors, keymap, denoiser_config=denoiser_config)
    result.metadata = metadata
    return result


def load_lora(path: str | os.PathLike, keymap: FamilyKeymap, *, denoiser_config: Mapping | None = None
              ) -> dict[str, dict[str, torch.Tensor]]:
    """`{part: {"<module>.<peft suffix>": tensor, "<module>.alpha": tensor}}` from any adapter file."""
    return read_lora(path, keymap, denoiser_config=denoiser_config).parts
