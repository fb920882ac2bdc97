"""Full-model single-file checkpoints in the original (LDM / SGM) key layout (ORIGINAL_SINGLE_FILE).

Loading goes through diffusers' own `from_single_file`, which works offline only when given a local
diffusers-format folder for the model's configs (`model_index.json`, `<component>/config.json`,
scheduler and tokenizer files). Any diffusers folder of the same architecture serves as
`config_dir`: the folder the base model was loaded from, a pipeline saved with `save_pretrained`
(as the tests do with their tiny models), or a per-architecture config folder shipped with the app.
Only configs and tokenizers are read from it; all weights come from the checkpoint.

`find_config_dir` looks for that folder beside the checkpoint (same stem) and then in the folder
named by `OT_SINGLE_FILE_CONFIG_DIR`; without one, diffusers fetches the configs from the hub.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from modules.formats.keymap import FamilyKeymap, require_keymap
from modules.formats.safetensors_io import write_safetensors


class MissingComponentError(KeyError):
    pass


def _component_config(module: torch.nn.Module) -> Mapping:
    config = module.config
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _entries_for(keymap: FamilyKeymap, fmt) -> list:
    """The single-file entries written for `fmt`: per part, those naming the format, else the general ones."""
    fmt = None if fmt is None else str(fmt)
    parts = dict.fromkeys(entry.part for entry in keymap.single_file)
    chosen = []
    for part in parts:
        entries = [e for e in keymap.single_file if e.part == part]
        specific = [e for e in entries if fmt is not None and fmt in e.formats]
        chosen += specific or [e for e in entries if not e.formats]
    return chosen


def original_state_dict(components: Mapping[str, torch.nn.Module], keymap: FamilyKeymap,
                        dtype: torch.dtype | None = None, fmt=None) -> dict[str, torch.Tensor]:
    """diffusers components -> one state dict in the model's original namespace (or the layout that
    the family's entries give single-file format `fmt`)."""
    keymap = require_keymap(keymap)
    if not keymap.single_file:
        raise NotImplementedError(f"no single-file layout for {keymap.name}")
    tensors: dict[str, torch.Tensor] = {}
    for entry in _entries_for(keymap, fmt):
        module = components.get(entry.part)
        if module is None and entry.optional:
            continue
        if module is None:
            raise MissingComponentError(f"single-file {keymap.name} needs the {entry.part!r} component")
        converted = entry.convert(module.state_dict(), _component_config(module))
        for key, value in converted.items():
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            tensors[entry.prefix + key] = value
    return tensors


def save_original_single_file(path: str | os.PathLike, components: Mapping[str, torch.nn.Module],
                              keymap: FamilyKeymap, dtype: torch.dtype | None = None, metadata: Mapping[str, str] | None = None,
                              fmt=None) -> Path:
    """Write unet / vae / text_encoder(s) as one `.safetensors` in the original key layout."""
    return write_safetensors(path, original_state_dict(components, keymap, dtype, fmt), metadata)


CONFIG_DIR_ENV = "OT_SINGLE_FILE_CONFIG_DIR"
MODEL_INDEX = "model_index.json"


class SingleFileConfigError(FileNotFoundError):
    """No local config folder for a single-file checkpoint, and the hub cannot be asked."""


def find_config_dir(path: str | os.PathLike, model_type) -> Path | None:
    """The local diffusers config folder for a checkpoint, in this order:

    1. `<checkpoint folder>/<checkpoint stem>/` holding `model_index.json`;
    2. the folder named by `OT_SINGLE_FILE_CONFIG_DIR`: itself when it holds `model_index.json`,
       else its sub-folder named after the model type (`.../STABLE_DIFFUSION_XL_10_BASE/`).
    """
    path = Path(path)
    candidates = [path.parent / path.stem]
    configured = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if configured:
        root = Path(configured).expanduser()
        candidates += [root, root / str(model_type)]
    return next((c for c in candidates if (c / MODEL_INDEX).is_file()), None)


def missing_config_message(path: str | os.PathLike, model_type) -> str:
    path = Path(path)
    return (f"cannot load the single-file checkpoint {path} offline: it needs a diffusers-format config folder "
            f"of a {model_type} model (model_index.json and the component config and tokenizer folders; weights "
            f"are not needed). Put one at {path.parent / path.stem}, or set {CONFIG_DIR_ENV} to such a folder "
            f"(or to a folder with one sub-folder per model type, named {model_type}), or switch offline mode "
            f"off so the configs can be fetched from the Hugging Face hub.")


def load_single_file(path: str | os.PathLike, keymap: FamilyKeymap, model_type,
                     config_dir: str | os.PathLike | None, torch_dtype: torch.dtype | None = None, **kwargs):
    """Load a single-file checkpoint as a diffusers pipeline (see the module docstring).

    The key map's `pipelines` name the diffusers pipeline class of `model_type`. With `config_dir`
    nothing is fetched; without it the hub is asked for the configs, and a failure to reach it raises
    `SingleFileConfigError` saying what to provide."""
    import diffusers

    keymap = require_keymap(keymap)
    try:
        pipeline_class = getattr(diffusers, keymap.pipelines[str(model_type)])
    except KeyError:
        raise NotImplementedError(f"no single-file pipeline for {model_type}") from None
    if config_dir is not None:
        return pipeline_class.from_single_file(str(path), config=str(config_dir), local_files_only=True,
                                               torch_dtype=torch_dtype, **kwargs)
    try:
        return pipeline_class.from_single_file(str(path), torch_dtype=torch_dtype, **kwargs)
    except OSError as exc:  # hub unreachable or offline: say what a local run needs
        raise SingleFileConfigError(missing_config_message(path, model_type)) from exc
