"""Model converter: read a base model, LoRA or embedding in any format we load, write it in another.

A base model loads through its model family and is written by the same code that writes a trained
model (`MethodSetup.save_final`); adapter and embedding files are decoded by `modules.formats` into
the family's names and encoded again in the asked convention. Nothing is written until the input
has been read completely, and every write is atomic, so a failed conversion leaves no file behind.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from modules.config.enums import DataType, ModelFormat, ModelType, TrainingMethod
from modules.tools.task import ToolError, ToolTask

METHODS = (TrainingMethod.FINE_TUNE, TrainingMethod.LORA, TrainingMethod.EMBEDDING)
OUTPUT_DTYPES = (DataType.FLOAT_32, DataType.FLOAT_16, DataType.BFLOAT_16)


@dataclass
class ConvertRequest:
    """The arguments of OneTrainer's `convert_model.py`."""

    model_type: ModelType
    input_name: str
    output_model_format: ModelFormat
    output_model_destination: str
    training_method: TrainingMethod = TrainingMethod.FINE_TUNE
    output_dtype: DataType = DataType.FLOAT_16
    base_model_name: str = ""


def convertible_model_types() -> list[ModelType]:
    """The model types a family loads and saves."""
    from modules.families.registry import supported_model_types

    return supported_model_types()


def output_formats(model_type, training_method) -> list[ModelFormat]:
    """The formats the model type allows for the method that its family also writes (INTERNAL, a
    training backup, is no conversion target)."""
    from modules.families.registry import facts_for

    model_type, method = ModelType(str(model_type)), TrainingMethod(str(training_method))
    facts = facts_for(model_type)
    written = set(facts.formats.get(str(method), ())) if facts is not None else set()
    return [f for f in model_type.supported_output_formats(method)
            if str(f) in written and f != ModelFormat.INTERNAL]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check(request: ConvertRequest) -> tuple[ModelType, TrainingMethod, ModelFormat, DataType]:
    try:
        model_type = ModelType(str(request.model_type))
        method = TrainingMethod(str(request.training_method))
        fmt = ModelFormat(str(request.output_model_format))
        dtype = DataType(str(request.output_dtype))
    except ValueError as exc:
        raise ToolError(_one_line(exc)) from None
    if model_type not in convertible_model_types():
        raise ToolError(f"{model_type} cannot be converted yet: no model family loads it")
    if method not in METHODS:
        raise ToolError(f"the converter converts base models, LoRAs and embeddings, not {method}")
    allowed = output_formats(model_type, method)
    if fmt not in allowed:
        raise ToolError(f"{fmt} is not an output format of a {method} of {model_type}; "
                        f"choose one of {', '.join(map(str, allowed))}")
    if dtype not in OUTPUT_DTYPES:
        raise ToolError(f"output data type {dtype} is not one of {', '.join(map(str, OUTPUT_DTYPES))}")
    if not request.input_name.strip():
        raise ToolError("no input model given")
    if not request.output_model_destination.strip():
        raise ToolError("no output destination given")
    if method != TrainingMethod.FINE_TUNE and not os.path.exists(request.input_name):
        raise ToolError(f"input file {request.input_name} does not exist")
    if Path(request.output_model_destination).resolve() == Path(request.input_name).resolve():
        raise ToolError("the output destination is the input; choose another destination")
    return model_type, method, fmt, dtype


def _metadata(model_type, method, keymap, source: dict[str, str] | None = None) -> dict[str, str]:
    """A fresh model spec, overlaid by the source file's own header (its title, author, ...); the
    source's hash is dropped, the written tensors get their own."""
    from modules.formats import build_model_spec
    from modules.formats.safetensors_io import HASH_KEY

    try:
        header = build_model_spec(model_type, method, keymap=keymap)
    except KeyError:  # no model-spec entry for this type: the conversion still goes on
        header = {}
    header.update({k: v for k, v in (source or {}).items() if k != HASH_KEY})
    return header


def _denoiser_config(base_model_name: str, denoiser: str) -> dict | None:
    """The base model's denoiser config when it is a local diffusers folder: adapter key layouts that
    depend on the model's shape (block counts) follow it. None: the real model's layout."""
    if not base_model_name:
        return None
    path = Path(base_model_name) / denoiser / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read the base model's {denoiser} config {path}: {_one_line(exc)}") from None


def convert(task: ToolTask, request: ConvertRequest) -> Path:
    """Convert as `request` says; returns what was written (a file, or a folder for DIFFUSERS)."""
    model_type, method, fmt, dtype = _check(request)
    from modules.families import family_for

    family = family_for(model_type)
    task.step(0, 2)
    task.log(f"reading {request.input_name} as a {method} of {model_type}")
    destination = Path(request.output_model_destination)
    if method == TrainingMethod.LORA:
        _convert_lora(task, family, request, model_type, fmt, dtype, destination)
    elif method == TrainingMethod.EMBEDDING:
        _convert_embedding(task, family, request, model_type, dtype, destination)
    else:
        _convert_model(task, family, request, model_type, fmt, dtype, destination)
    task.step(2, 2)
    task.log(f"wrote {destination} ({fmt}, {dtype})")
    return destination


def _convert_lora(task, family, request, model_type, fmt, dtype, destination) -> None:
    from modules.formats import read_lora, save_lora, split_alphas
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    keymap = family.keymap
    denoiser_config = _denoiser_config(request.base_model_name, family.denoiser)
    try:
        lora = read_lora(request.input_name, keymap, denoiser_config=denoiser_config)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input to fix
        raise ToolError(f"{request.input_name} is not a LoRA of {model_type} we can read: {_one_line(exc)}") from None
    if not lora.parts:
        raise ToolError(f"{request.input_name} holds no adapter weights")
    task.step(1, 2)
    task.check()
    weights, alphas = split_alphas(lora.parts)
    metadata = _metadata(model_type, TrainingMethod.LORA, keymap, lora.metadata)
    try:
        save_lora(destination, weights, alphas, keymap, fmt, metadata, embeddings=lora.embeddings or None,
                  denoiser_config=denoiser_config, dtype=dtype.torch_dtype())
    except UnsupportedLoraFormatError as exc:  # raised while encoding, before the file is written
        raise ToolError(f"this LoRA cannot be written as {fmt}: {_one_line(exc)}") from None


def _convert_embedding(task, family, request, model_type, dtype, destination) -> None:
    from modules.formats import load_embedding, save_embedding
    from modules.formats.safetensors_io import read_metadata

    keymap = family.keymap
    try:
        vectors = load_embedding(request.input_name, keymap)
        source = read_metadata(request.input_name) if request.input_name.endswith(".safetensors") else {}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input to fix
        raise ToolError(f"{request.input_name} is not an embedding of {model_type} we can read: "
                        f"{_one_line(exc)}") from None
    task.step(1, 2)
    task.check()
    save_embedding(destination, vectors, keymap, _metadata(model_type, TrainingMethod.EMBEDDING, keymap, source),
                   dtype=dtype.torch_dtype())


def _reads_denoiser_files(family) -> bool:
    """Whether the family loads a stand-alone denoiser file (`<denoiser>.model_name`) over a base."""
    return any(c.part == family.denoiser and not c.prefix and c.from_original is not None
               for c in family.keymap.single_file)


def _convert_model(task, family, request, model_type, fmt, dtype, destination) -> None:
    import torch

    from modules.config.train_config import TrainConfig
    from modules.train.methods import MethodSetup

    config = TrainConfig.default_values()
    config.model_type, config.training_method = model_type, TrainingMethod.FINE_TUNE
    source = request.input_name
    if (request.base_model_name and Path(source).suffix.lower() == ".safetensors"
            and Path(source).is_file() and _reads_denoiser_files(family)):
        # a transformer-only file (ORIGINAL_TRANSFORMER, COMFY_TRANSFORMER): the rest comes from the base
        getattr(config, family.denoiser).model_name = source
        source = request.base_model_name
        task.log(f"the {family.denoiser} from {request.input_name}, the other parts from {source}")
    config.base_model_name = source
    for part in model_type.model_parts():
        getattr(config, part).weight_dtype = dtype  # loaded straight in the output type: no second copy
    try:
        model = family.load(source, config)
    except Exception as exc:  # noqa: BLE001 - a model that fails to load is the user's input to fix
        raise ToolError(f"cannot load {request.input_name} as {model_type}: {_one_line(exc)}") from None
    # a folder of another family loads as the components it has: the family's own ones must be there
    optional = {p for p in family.text_encoders if family.facts.text_encoder(p).optional}
    missing = [p for p in family.facts.parts if p not in model.components and p not in optional]
    if missing:
        raise ToolError(f"cannot load {request.input_name} as {model_type}: it has no {', '.join(missing)}")
    task.step(1, 2)
    task.check()
    metadata = _metadata(model_type, TrainingMethod.FINE_TUNE, family.keymap)
    try:
        with torch.no_grad():
            MethodSetup(family, model, config).save_final(str(destination), fmt, dtype.torch_dtype(), metadata)
    except (KeyError, ValueError, NotImplementedError) as exc:  # the writers fail before they write
        raise ToolError(f"cannot write {request.input_name} as {fmt}: {_one_line(exc)}") from None
