"""The denoiser from a file of its own (`<denoiser>.model_name`) with its config from the base model's
folder: a `.gguf` file, whose weights stay GGUF-quantized and are dequantized layer by layer in the
train dtype, or a `.safetensors` transformer file.

The file's names may be diffusers' own, the family's original layout (converted with the keymap's
`SingleFileComponent.from_original`, which reads the block counts and widths from the config, so a
file of any size loads), or any layout diffusers' single-file converter reads (which knows only
the released model sizes). Loading goes through diffusers' `from_single_file` with a state dict,
which applies the GGUF quantizer where the file is GGUF.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

StateDict = dict[str, torch.Tensor]


def file_kind(name: str) -> str | None:
    """'gguf' or 'safetensors' for a file name that names a denoiser file, else None."""
    lowered = str(name or "").strip().lower()
    if lowered.endswith(".gguf"):
        return "gguf"
    if lowered.endswith(".safetensors"):
        return "safetensors"
    return None


def single_file_loadable(cls) -> bool:
    """diffusers has a single-file loader (and so a GGUF path) for this component class."""
    from diffusers.loaders.single_file_model import _get_single_file_loadable_mapping_class

    return hasattr(cls, "from_single_file") and _get_single_file_loadable_mapping_class(cls) is not None


def read_state_dict(path: str) -> StateDict:
    """The tensors of a `.gguf` (quantized tensors as diffusers' `GGUFParameter`) or `.safetensors` file."""
    if file_kind(path) == "gguf":
        from diffusers.models.model_loading_utils import load_gguf_checkpoint

        return load_gguf_checkpoint(path)
    from safetensors.torch import load_file

    return load_file(path)


def diffusers_names(state: StateDict, expected: set[str], config: Mapping,
                    from_original: Callable[[Mapping, Mapping], StateDict] | None, path: str) -> StateDict | None:
    """The state dict in the component's own names: as it is, or converted from the original layout;
    None when neither fits (diffusers' converter gets it as it is)."""
    if set(state) == expected:
        return state
    if from_original is None:
        return None
    try:
        converted = from_original(state, config)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is neither in diffusers' names nor in the original layout: {exc}") from exc
    if set(converted) != expected:
        missing, unexpected = sorted(expected - set(converted)), sorted(set(converted) - expected)
        raise ValueError(f"{path} does not match the base model's transformer config: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]} (a file of another model size?)")
    return converted


def load(cls, path: str, base: str, part: str, dtype: torch.dtype, *, gguf_compute_dtype: torch.dtype | None = None,
         from_original: Callable[[Mapping, Mapping], StateDict] | None = None):
    """`part` of class `cls` from the file `path`, its config from `base`/`part`, in `dtype` (a `.gguf`
    file: GGUF-quantized, computing in `gguf_compute_dtype`)."""
    from accelerate import init_empty_weights

    if not (Path(base) / part).is_dir():
        raise FileNotFoundError(f"{part}.model_name {path} needs a diffusers base model folder with a {part} "
                                f"config; {base} has none")
    if not single_file_loadable(cls):
        raise ValueError(f"{cls.__name__} has no single-file loader in diffusers: {part}.model_name {path} "
                         "cannot be loaded; use a diffusers base model folder")
    config = cls.load_config(base, subfolder=part)
    with init_empty_weights():
        expected = set(cls.from_config(config).state_dict())
    state = read_state_dict(path)
    named = diffusers_names(state, expected, config, from_original, path)
    kwargs = {"config": base, "subfolder": part, "torch_dtype": dtype, "local_files_only": True}
    if file_kind(path) == "gguf":
        from diffusers import GGUFQuantizationConfig

        kwargs["quantization_config"] = GGUFQuantizationConfig(compute_dtype=gguf_compute_dtype or dtype)
    module = cls.from_single_file(named if named is not None else state, **kwargs)
    module.eval()
    return module
