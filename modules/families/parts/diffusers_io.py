"""Reading and writing a model as diffusers components: a diffusers folder, a single-file
checkpoint (through diffusers' own converters) or a hub name (through the Hugging Face cache).

A part whose `weight_dtype` is a quantized type loads quantized (`parts/quantization.py`); every
other part is cast to its weight dtype."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch

from . import denoiser_file, quantization
from .sources import local_model_path, offline


def is_backup_dir(path: str | Path) -> bool:
    return (Path(path) / "meta.json").is_file()


def weight_dtype(part_config, default=torch.float32) -> torch.dtype:
    """The torch dtype of a part in a float weight dtype (`default` for NONE; a quantized part keeps
    the dtype it loaded in, see `freeze`)."""
    dtype = part_config.weight_dtype.torch_dtype() if part_config is not None else None
    return dtype or default


def load_folder(path: str, config, keymap=None) -> dict:
    """Every component `model_index.json` names, except text encoders (and Ideogram 4's unconditional
    transformer) switched off with `include`; the denoiser from its own file where the config names one."""
    import diffusers
    import transformers

    index = read_index(path)
    components = {}
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[1] is None:
            continue
        if len(spec) != 2 or not all(isinstance(s, str) for s in spec):  # a pipeline setting (Krea 2's layers)
            continue
        part_config = getattr(config, name, None) if config is not None else None
        optional = name.startswith("text_encoder") or name == "unconditional_transformer"
        if optional and part_config is not None and not part_config.include:
            continue
        library, cls_name = spec
        cls = getattr(diffusers if library == "diffusers" else transformers, cls_name, None)
        if cls is None or not (Path(path) / name).is_dir():
            continue
        components[name] = load_component(cls, path, name, config, keymap)
    return components


def read_index(path: str | Path) -> dict:
    """`model_index.json`, or where a folder has only the index of a modular pipeline (Anima's released
    folder) the `[library, class]` of each component that `modular_model_index.json` names."""
    folder = Path(path)
    if (folder / "model_index.json").is_file() or not (folder / "modular_model_index.json").is_file():
        return json.loads((folder / "model_index.json").read_text())
    modular = json.loads((folder / "modular_model_index.json").read_text())
    return {name: spec[:2] if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[2], dict) else spec
            for name, spec in modular.items()}


def load_component(cls, path: str, name: str, config, keymap=None):
    """One component of a diffusers folder, quantized while loading where its weight dtype says so."""
    own = load_denoiser_file(cls, path, name, config, keymap)
    if own is not None:
        return own
    gguf_file = quantization.gguf_file(config, name) if quantization.quantized_dtype(config, name) else None
    if gguf_file is not None:
        return quantization.load_gguf(cls, local_model_path(gguf_file, config), path, name, config, name)
    module = quantization.load_streamed(cls, path, name, config, name)
    if module is not None:
        return module
    module = cls.from_pretrained(path, subfolder=name, **quantization.loading_kwargs(cls, path, name, config, name))
    quantization.complete(module, config, name)
    return module


def load_denoiser_file(cls, path: str, name: str, config, keymap):
    """The denoiser from its own file (`<denoiser>.model_name`, config from the folder at `path`): a
    `.gguf` file, or a `.safetensors` transformer file where the keymap converts the original layout
    (`SingleFileComponent.from_original`). None for every other component, and for a backup folder,
    whose weights are the ones being trained."""
    if keymap is None or name != keymap.denoiser or config is None or is_backup_dir(path):
        return None
    file = str(getattr(getattr(config, name, None), "model_name", "") or "").strip()
    kind = denoiser_file.file_kind(file)
    from_original = next((c.from_original for c in keymap.single_file if c.part == name and not c.prefix), None)
    dtype = quantization.quantized_dtype(config, name)
    if kind == "gguf" and dtype is not None and dtype.is_gguf():
        return quantization.load_gguf(cls, local_model_path(file, config), path, name, config, name, from_original)
    if kind == "safetensors" and from_original is not None:
        torch_dtype = quantization.compute_dtype(config) if dtype else weight_dtype(getattr(config, name, None))
        module = denoiser_file.load(cls, local_model_path(file, config), path, name, torch_dtype,
                                    from_original=from_original)
        return quantization.quantize_loaded(module, config, name)
    return None


def load_single_file(path: str, keymap, model_type, config_dir: str | None, config, **pipeline_kwargs) -> dict:
    from modules.formats.single_file import (
        SingleFileConfigError,
        find_config_dir,
        load_single_file,
        missing_config_message,
    )

    config_dir = config_dir or find_config_dir(path, model_type)
    if config_dir is None and offline(config):
        raise SingleFileConfigError(missing_config_message(path, model_type))
    pipe = load_single_file(path, keymap, model_type, config_dir, **pipeline_kwargs)
    components = {k: v for k, v in pipe.components.items() if v is not None}
    for name, module in components.items():
        if isinstance(module, torch.nn.Module):
            quantization.quantize_loaded(module, config, name)
    return components


def load_vae_override(name: str, config):
    """The VAE of a folder (or its `vae` sub-folder), of the class its config names (AutoencoderKL when
    it names none)."""
    import diffusers

    path = local_model_path(name, config)
    subfolder = "vae" if (Path(path) / "vae").is_dir() else None
    config_file = Path(path, subfolder or "", "config.json")
    cls_name = json.loads(config_file.read_text()).get("_class_name") if config_file.is_file() else None
    cls = getattr(diffusers, cls_name or "AutoencoderKL", diffusers.AutoencoderKL)
    return cls.from_pretrained(path, subfolder=subfolder)


def load_components(source: str, keymap, model_type, config, *, config_dir: str | None = None,
                    single_file_kwargs: dict | None = None) -> tuple[str, dict]:
    """(local path, components) of a folder, single file or hub name; a VAE override replaces the VAE.
    A quantized weight dtype that cannot run on the train device is refused before anything loads."""
    quantization.refuse_unavailable(config, model_type)
    source = local_model_path(str(source), config)
    if os.path.isfile(source):
        components = load_single_file(source, keymap, model_type, config_dir, config, **(single_file_kwargs or {}))
    else:
        components = load_folder(source, config, keymap)
    vae_name = getattr(getattr(config, "vae", None), "model_name", "") if config is not None else ""
    if vae_name:
        components["vae"] = load_vae_override(vae_name, config)
    return source, components


def freeze(components: dict, parts: tuple[str, ...], config) -> None:
    """Nothing trains until a training method says so; each part in its configured weight dtype (a
    quantized part stays as it loaded: quantized layers, the rest in the train dtype)."""
    for module in components.values():
        if isinstance(module, torch.nn.Module):
            module.requires_grad_(False)
            module.eval()
    if config is not None:
        for part in parts:
            if part in components and quantization.quantized_dtype(config, part) is None:
                components[part].to(dtype=weight_dtype(getattr(config, part, None)))


def published_class_name(component) -> str:
    """The class name a published folder records for `component`. Without torchvision, transformers
    builds an image processor's PIL backend (`CLIPImageProcessorPil`); the published name
    (`CLIPImageProcessor`) loads with either backend and with older transformers too."""
    name = type(component).__name__
    return name.removesuffix("Pil") if name.endswith("ImageProcessorPil") else name


def save_folder(components: dict, path: str | Path, pipeline_class: str, dtype: torch.dtype | None = None,
                extra_components: dict | None = None) -> None:
    """Write components and `model_index.json` so `DiffusionPipeline.from_pretrained` loads the folder."""
    import diffusers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": pipeline_class, "_diffusers_version": diffusers.__version__}
    for name, comp in {**components, **(extra_components or {})}.items():
        target = path / name
        if isinstance(comp, torch.nn.Module):
            if dtype is not None and next(comp.parameters()).dtype != dtype:
                comp = copy.deepcopy(comp).to(dtype)
            comp.save_pretrained(target, safe_serialization=True)
        elif hasattr(comp, "save_pretrained"):
            comp.save_pretrained(target)
        else:
            continue
        index[name] = [type(comp).__module__.split(".")[0], published_class_name(comp)]
    (path / "model_index.json").write_text(json.dumps(index, indent=2))
