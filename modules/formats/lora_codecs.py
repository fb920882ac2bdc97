"""One codec per adapter file convention (ModelFormat): how a module's tensors are named in the file.

Writers pick the codec of the requested format. Readers try every codec on every key, so a file
in any of the conventions (or a mix, as some tools write) reads back into peft naming.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from modules.config.enums import ModelFormat
from modules.formats.adapter_tensors import (
    ALPHA,
    DORA_SCALE,
    LORA_DOWN,
    LORA_UP,
    MAGNITUDE,
    AdapterKeyError,
    Adapters,
    magnitude_to_dora_scale,
    rank_of,
    split_key,
)
from modules.formats.keymap import FamilyKeymap
from modules.formats.prefix_map import PrefixMap


class UnsupportedLoraFormatError(ValueError):
    pass


@dataclass(frozen=True)
class ParsedKey:
    part: str
    module: str  # diffusers / transformers module path (text encoders with their `text_model.` level)
    file_suffix: str
    native: bool = False  # the file named this denoiser module natively


def unflatten(flat: str, vocabulary: frozenset[str]) -> str:
    """Undo `.` -> `_` flattening: rejoin tokens that form known compound names (longest first)."""
    tokens = flat.split("_")
    longest = max((name.count("_") + 1 for name in vocabulary), default=1)
    segments, i = [], 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 1, -1):
            candidate = "_".join(tokens[i:i + n])
            if candidate in vocabulary:
                segments.append(candidate)
                i += n
                break
        else:
            segments.append(tokens[i])
            i += 1
    return ".".join(segments)


def _denoiser_from_file(path: str, keymap: FamilyKeymap, native: PrefixMap) -> str:
    """Files may name denoiser modules natively or with diffusers names; normalise to diffusers."""
    return native.backward(path) if _is_native(path, keymap) else path


def _is_native(path: str, keymap: FamilyKeymap) -> bool:
    return path.split(".", 1)[0] in keymap.native_roots


class LoraCodec:
    format: ModelFormat
    suffix_names: dict[str, str] = {}  # canonical suffix -> file suffix (identity when absent)

    def check(self, adapters: Adapters, has_embeddings: bool, keymap: FamilyKeymap) -> None:
        """Refuse what this convention cannot express."""

    def writes_native_denoiser(self, keymap: FamilyKeymap) -> bool:
        """Whether this convention names the denoiser's modules natively."""
        return False

    def encode(self, keymap: FamilyKeymap, native: PrefixMap, part: str, module: str,
               tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        name = self.module_name(keymap, native, part, module)
        out = {}
        for suffix, value in self.transform(tensors).items():
            out[f"{name}.{self.suffix_names.get(suffix, suffix)}"] = value
        return out

    def transform(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Value changes of this convention (default: DoRA magnitude as a LyCORIS `dora_scale`)."""
        out = dict(tensors)
        if MAGNITUDE in out:
            out[DORA_SCALE] = magnitude_to_dora_scale(out.pop(MAGNITUDE))
        return out

    def module_name(self, keymap: FamilyKeymap, native: PrefixMap, part: str, module: str) -> str:
        raise NotImplementedError

    def parse(self, key: str, keymap: FamilyKeymap, native: PrefixMap) -> ParsedKey | None:
        raise NotImplementedError


class DiffusersCodec(LoraCodec):
    """`unet.<diffusers path>.lora_A.weight`; alpha/rank folded into lora_B, as diffusers expects."""

    format = ModelFormat.DIFFUSERS_LORA

    def transform(self, tensors):
        out = dict(tensors)
        if LORA_DOWN in out and LORA_UP in out:
            alpha = float(out.pop(ALPHA))
            out[LORA_UP] = out[LORA_UP] * (alpha / rank_of(out))
        if MAGNITUDE in out:
            out[MAGNITUDE + ".weight"] = out.pop(MAGNITUDE)
        return out

    def module_name(self, keymap, native, part, module):
        return f"{part}.{module}"

    def parse(self, key, keymap, native):
        part, _, rest = key.partition(".")
        if part not in keymap.parts or not rest:
            return None
        module, suffix = split_key(rest)
        if part == keymap.denoiser:
            return ParsedKey(part, _denoiser_from_file(module, keymap, native), suffix, _is_native(module, keymap))
        return ParsedKey(part, module, suffix)


class FlatCodec(LoraCodec):
    """kohya-ss names: `lora_unet_<path with _>.lora_down.weight`, `lora_te1_...`, `.alpha`."""

    suffix_names = {LORA_DOWN: "lora_down.weight", LORA_UP: "lora_up.weight"}

    def __init__(self, fmt: ModelFormat, native_denoiser: bool | None):
        self.format = fmt
        self._native_denoiser = native_denoiser  # None: as the family's kohya convention says

    def check(self, adapters, has_embeddings, keymap):
        if self.format == ModelFormat.LEGACY_LORA and not keymap.has_legacy_lora:
            raise UnsupportedLoraFormatError(f"{keymap.name} has no legacy LoRA format")

    def writes_native_denoiser(self, keymap):
        if self.format == ModelFormat.LEGACY_LORA and keymap.legacy_native_denoiser:
            return True
        return keymap.kohya_native_denoiser if self._native_denoiser is None else self._native_denoiser

    def _denoiser_prefix(self, keymap) -> str:
        if self.format == ModelFormat.LEGACY_LORA and keymap.legacy_denoiser_prefix:
            return keymap.legacy_denoiser_prefix
        return keymap.kohya_denoiser_prefix

    def module_name(self, keymap, native, part, module):
        if self.format == ModelFormat.LEGACY_LORA and keymap.legacy_lora_canonical:
            return f"{part}.{module}"  # read back by the diffusers codec, which knows these suffixes
        if part == keymap.denoiser:
            path = native.forward(module) if self.writes_native_denoiser(keymap) else module
            prefix = self._denoiser_prefix(keymap)
        else:
            te = keymap.text_encoder(part)
            path, prefix = module, te.kohya_prefix
            if self.format == ModelFormat.LEGACY_LORA and te.legacy_prefix:
                prefix = te.legacy_prefix
        return f"{prefix}_{path.replace('.', '_')}"

    def parse(self, key, keymap, native):
        flat, dot, suffix = key.partition(".")
        if not dot or not flat.startswith("lora_"):
            return None
        for prefix in {keymap.kohya_denoiser_prefix, keymap.legacy_denoiser_prefix or keymap.kohya_denoiser_prefix}:
            if flat.startswith(prefix + "_"):
                path = unflatten(flat[len(prefix) + 1:], keymap.vocabulary)
                return ParsedKey(keymap.denoiser, _denoiser_from_file(path, keymap, native), suffix,
                                 _is_native(path, keymap))
        for te in keymap.text_encoders:
            for prefix in (te.kohya_prefix, te.legacy_prefix or te.kohya_prefix, *te.read_prefixes):
                if flat.startswith(prefix + "_"):
                    path = unflatten(flat[len(prefix) + 1:], keymap.vocabulary)
                    return ParsedKey(te.part, path, suffix)
        raise AdapterKeyError(f"unknown kohya prefix in {key} for {keymap.name}")


class NativeCodec(LoraCodec):
    """Dotted native names: ORIGINAL (denoiser only, no prefix) and COMFY (`diffusion_model.`,
    `text_encoders.<name>.transformer.`)."""

    def __init__(self, fmt: ModelFormat, denoiser_prefix: str, text_encoders: bool):
        self.format = fmt
        self._denoiser_prefix = denoiser_prefix
        self._text_encoders = text_encoders

    def check(self, adapters, has_embeddings, keymap):
        if not self._text_encoders and (set(adapters) - {keymap.denoiser} or has_embeddings):
            raise UnsupportedLoraFormatError(
                f"{self.format} holds the {keymap.denoiser} only; found {sorted(adapters)}"
                + (" and bundled embeddings" if has_embeddings else ""))
        for part in set(adapters) - {keymap.denoiser}:
            if keymap.text_encoder(part).comfy_name is None:
                raise UnsupportedLoraFormatError(f"ComfyUI has no name for {keymap.name} {part}")

    def _te_prefix(self, keymap, te):
        return keymap.comfy_text_encoder_prefix.format(name=te.comfy_name)

    def writes_native_denoiser(self, keymap):
        return True

    def module_name(self, keymap, native, part, module):
        if part == keymap.denoiser:
            return self._denoiser_prefix + native.forward(module)
        return self._te_prefix(keymap, keymap.text_encoder(part)) + module

    def parse(self, key, keymap, native):
        if self._text_encoders:
            for te in keymap.text_encoders:
                prefix = self._te_prefix(keymap, te) if te.comfy_name else None
                if prefix and key.startswith(prefix):
                    module, suffix = split_key(key[len(prefix):])
                    return ParsedKey(te.part, module, suffix)
        if not key.startswith(self._denoiser_prefix):
            return None
        module, suffix = split_key(key[len(self._denoiser_prefix):])
        if module.split(".", 1)[0] not in keymap.native_roots:
            return None
        return ParsedKey(keymap.denoiser, native.backward(module), suffix, True)


CODECS: dict[ModelFormat, LoraCodec] = {
    ModelFormat.DIFFUSERS_LORA: DiffusersCodec(),
    ModelFormat.KOHYA_LORA: FlatCodec(ModelFormat.KOHYA_LORA, native_denoiser=None),
    # historical layout: kohya prefixes over diffusers module names
    ModelFormat.LEGACY_LORA: FlatCodec(ModelFormat.LEGACY_LORA, native_denoiser=False),
    ModelFormat.COMFY_LORA: NativeCodec(ModelFormat.COMFY_LORA, "diffusion_model.", text_encoders=True),
    ModelFormat.ORIGINAL_LORA: NativeCodec(ModelFormat.ORIGINAL_LORA, "", text_encoders=False),
}

# reading order: the most specific prefixes first, ORIGINAL (no prefix at all) last
READ_ORDER = (ModelFormat.COMFY_LORA, ModelFormat.KOHYA_LORA, ModelFormat.DIFFUSERS_LORA, ModelFormat.ORIGINAL_LORA)


def codec_for(fmt) -> LoraCodec:
    try:
        return CODECS[ModelFormat(str(fmt))]
    except (KeyError, ValueError):
        raise UnsupportedLoraFormatError(f"{fmt} is not an adapter file format") from None


def parse_key(key: str, keymap: FamilyKeymap, native: PrefixMap) -> tuple[ModelFormat, ParsedKey]:
    for fmt in READ_ORDER:
        parsed = CODECS[fmt].parse(key, keymap, native)
        if parsed is not None:
            return fmt, parsed
    raise AdapterKeyError(f"unrecognised adapter key for {keymap.name}: {key}")
