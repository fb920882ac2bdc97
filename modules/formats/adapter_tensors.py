"""Adapter tensors grouped by model part and module, in peft naming.

In memory an adapter set is `{part: {module path: {suffix: tensor}}}` where the suffix is peft's
parameter name (`lora_A.weight`, `lora_B.weight`, `lora_magnitude_vector`, `hada_w1_a`, `lokr_w1`, ...)
plus `alpha`, a 0-d tensor. Every file format is a renaming of this structure.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.formats.keymap import FamilyKeymap

Adapters = dict[str, dict[str, dict[str, torch.Tensor]]]

LORA_DOWN, LORA_UP, MAGNITUDE, ALPHA, DORA_SCALE = "lora_A.weight", "lora_B.weight", "lora_magnitude_vector", "alpha", "dora_scale"
LOHA_SUFFIXES = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2")
LOKR_SUFFIXES = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")
OFT_SUFFIXES = ("oft_R.weight",)  # packed skew-symmetric blocks [blocks, n_elements]; OFT has no alpha
CANONICAL_SUFFIXES = (LORA_DOWN, LORA_UP, MAGNITUDE, ALPHA, DORA_SCALE, *LOHA_SUFFIXES, *LOKR_SUFFIXES,
                      *OFT_SUFFIXES)

# suffix spellings found in files -> canonical suffix (dora_scale needs a shape check, see below)
FILE_SUFFIXES = {
    **{s: s for s in CANONICAL_SUFFIXES},
    "lora_magnitude_vector.weight": MAGNITUDE,
    "lora_down.weight": LORA_DOWN,
    "lora_up.weight": LORA_UP,
}
_BY_LENGTH = sorted(FILE_SUFFIXES, key=len, reverse=True)


class AdapterKeyError(KeyError):
    pass


def split_key(key: str) -> tuple[str, str]:
    """`<module path>.<suffix>` -> (module path, file suffix)."""
    for suffix in _BY_LENGTH:
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], suffix
    raise AdapterKeyError(f"not an adapter tensor name: {key}")


def is_oft(tensors: Mapping[str, torch.Tensor]) -> bool:
    return any(suffix in tensors for suffix in OFT_SUFFIXES)


def rank_of(tensors: Mapping[str, torch.Tensor]) -> int:
    if LORA_DOWN in tensors:
        return tensors[LORA_DOWN].shape[0]
    if "hada_w1_b" in tensors:
        return tensors["hada_w1_b"].shape[0]
    raise AdapterKeyError("the rank of this adapter type cannot be read from its tensors")


def magnitude_to_dora_scale(magnitude: torch.Tensor) -> torch.Tensor:
    """peft keeps the per-output magnitude as [out] (Linear) or [1, out, 1, 1] (Conv);
    LyCORIS/kohya files store it as [out, 1] or [out, 1, 1, 1]."""
    out = magnitude.numel()
    return magnitude.reshape(out, 1) if magnitude.ndim == 1 else magnitude.reshape(out, 1, 1, 1)


def dora_scale_to_magnitude(scale: torch.Tensor) -> torch.Tensor | None:
    """The inverse; None when the file holds a per-input scale peft has no equivalent for."""
    if scale.ndim >= 2 and all(d == 1 for d in scale.shape[1:]):
        out = scale.shape[0]
        return scale.reshape(out) if scale.ndim == 2 else scale.reshape(1, out, 1, 1)
    if scale.ndim == 1:
        return scale
    return None


def canonical_tensor(file_suffix: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    suffix = FILE_SUFFIXES[file_suffix]
    if suffix == DORA_SCALE:
        magnitude = dora_scale_to_magnitude(value)
        if magnitude is not None:
            return MAGNITUDE, magnitude
    return suffix, value


def _alpha_lookup(alphas, part: str, module: str, file_module: str):
    if alphas is None:
        return None
    if isinstance(alphas, int | float | torch.Tensor):
        return alphas
    for key in (f"{part}.{file_module}", f"{part}.{module}"):
        if key in alphas:
            return alphas[key]
    return None


def group(part_state_dicts: Mapping[str, Mapping[str, torch.Tensor]], alphas, keymap: FamilyKeymap) -> Adapters:
    """Flat per-part state dicts (+ alphas) -> grouped adapters with file-style module paths.

    `alphas`: one number for every module, or `{"<part>.<module path>": alpha}`; an `alpha` entry
    inside a state dict (as `load_lora` returns them) takes precedence.
    """
    adapters: Adapters = {}
    for part, state_dict in part_state_dicts.items():
        if part not in keymap.parts:
            raise AdapterKeyError(f"{keymap.name} has no model part {part!r} (parts: {keymap.parts})")
        te = None if part == keymap.denoiser else keymap.text_encoder(part)
        modules: dict[str, dict[str, torch.Tensor]] = {}
        originals: dict[str, str] = {}
        for key, value in state_dict.items():
            module, file_suffix = split_key(key.removeprefix(part + "."))
            suffix, value = canonical_tensor(file_suffix, value)
            file_module = te.file_path(module) if te else module
            originals[file_module] = module
            modules.setdefault(file_module, {})[suffix] = value
        for file_module, tensors in modules.items():
            if ALPHA not in tensors and not is_oft(tensors):
                alpha = _alpha_lookup(alphas, part, originals[file_module], file_module)
                if alpha is None:
                    raise AdapterKeyError(f"no alpha for {part}.{file_module}")
                tensors[ALPHA] = torch.as_tensor(alpha, dtype=torch.float32).reshape(())
        if modules:
            adapters[part] = modules
    return adapters


def flatten(adapters: Adapters) -> dict[str, dict[str, torch.Tensor]]:
    return {part: {f"{module}.{suffix}": t for module, tensors in modules.items() for suffix, t in tensors.items()}
            for part, modules in adapters.items()}


def split_alphas(part_state_dicts: Mapping[str, Mapping[str, torch.Tensor]]):
    """(weights without alpha entries, {"<part>.<module>": alpha float}) — the inputs of `save_lora`."""
    weights, alphas = {}, {}
    for part, state_dict in part_state_dicts.items():
        weights[part] = {}
        for key, value in state_dict.items():
            if key.endswith("." + ALPHA):
                alphas[f"{part}.{key[: -len(ALPHA) - 1]}"] = float(value)
            else:
                weights[part][key] = value
    return weights, alphas


def rescale_to_alpha(part_state_dicts: Mapping[str, Mapping[str, torch.Tensor]], alpha: float
                     ) -> dict[str, dict[str, torch.Tensor]]:
    """Weights for a peft adapter created with `lora_alpha=alpha` that reproduce the file's effect.

    Files may carry a different alpha per module; the effective update is linear in one factor of
    each adapter type, so that factor is scaled by file alpha / target alpha. Alpha entries are dropped.
    """
    weights, alphas = split_alphas(part_state_dicts)
    scaled: dict[str, dict[str, torch.Tensor]] = {}
    for part, state_dict in weights.items():
        scaled[part] = dict(state_dict)
        for key in state_dict:
            module, suffix = split_key(key)
            if suffix not in (LORA_UP, "hada_w1_a", "lokr_w1", "lokr_w1_a"):
                continue
            file_alpha = alphas.get(f"{part}.{module}", alpha)
            scaled[part][key] = state_dict[key] * (file_alpha / alpha)
    return scaled


def align_to_module(state_dict: Mapping[str, torch.Tensor], module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Rename module paths to the ones `module` actually has.

    Files keep wrapper levels (CLIP's `text_model.`) that some library versions flatten away, or the
    other way round; peft's `set_peft_model_state_dict` needs the live model's names.
    """
    names = {name for name, _ in module.named_modules()}
    out = {}
    for key, value in state_dict.items():
        path, suffix = split_key(key)
        if path not in names:
            dropped = path.split(".", 1)[-1]
            wrapped = [n for n in names if n.endswith("." + path)]
            if dropped in names:
                path = dropped
            elif len(wrapped) == 1:
                path = wrapped[0]
        out[f"{path}.{suffix}"] = value
    return out
