"""Full-model single-file checkpoints in the original (LDM / SGM) key layout (ORIGINAL_SINGLE_FILE).

Loading goes through diffusers' own `from_single_file`, which works offline only when given a local
diffusers-format folder for the model's configs (`model_index.json`, `<component>/config.json`,
scheduler and tokenizer files). Any diffusers folder of the same architecture serves as
`config_dir`: the folder the base model was loaded from, a pipeline saved with `save_pretrained`
(as the tests do with their tiny models), or a per-architecture config folder shipped with the app.
Only configs and tokenizers are read from it; all weights come from the checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from modules.formats.keymaps import keymap_for
from modules.formats.safetensors_io import write_safetensors


class MissingComponentError(KeyError):
    pass


def _component_config(module: torch.nn.Module) -> Mapping:
    config = module.config
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def original_state_dict(components: Mapping[str, torch.nn.Module], model_type,
                        dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """diffusers components -> one state dict in the model's original namespace."""
    keymap = keymap_for(model_type)
    if not keymap.single_file:
        raise NotImplementedError(f"no single-file layout for {model_type}")
    tensors: dict[str, torch.Tensor] = {}
    for entry in keymap.single_file:
        module = components.get(entry.part)
        if module is None:
            raise MissingComponentError(f"single-file {model_type} needs the {entry.part!r} component")
        converted = entry.convert(module.state_dict(), _component_config(module))
        for key, value in converted.items():
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            tensors[entry.prefix + key] = value
    return tensors


def save_original_single_file(path: str | os.PathLike, components: Mapping[str, torch.nn.Module], model_type,
                              dtype: torch.dtype | None = None, metadata: Mapping[str, str] | None = None) -> Path:
    """Write unet / vae / text_encoder(s) as one `.safetensors` in the original key layout."""
    return write_safetensors(path, original_state_dict(components, model_type, dtype), metadata)


def load_single_file(path: str | os.PathLike, model_type, config_dir: str | os.PathLike,
                     torch_dtype: torch.dtype | None = None, **kwargs):
    """Load a single-file checkpoint as a diffusers pipeline, offline (see the module docstring)."""
    import diffusers

    keymap = keymap_for(model_type)
    try:
        pipeline_class = getattr(diffusers, keymap.pipelines[str(model_type)])
    except KeyError:
        raise NotImplementedError(f"no single-file pipeline for {model_type}") from None
    return pipeline_class.from_single_file(str(path), config=str(config_dir), local_files_only=True,
                                           torch_dtype=torch_dtype, **kwargs)
