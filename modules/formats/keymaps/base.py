"""What a model family contributes to file formats: names, prefixes and layout converters.

Each family module (sd.py, sdxl.py, ...) builds `FamilyKeymap` objects from facts; the generic
writers and readers in modules/formats only ever talk to this interface.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from modules.formats.prefix_map import PrefixMap

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TextEncoderKeys:
    part: str  # model part name: text_encoder, text_encoder_2, ...
    kohya_prefix: str  # lora_te / lora_te1 / lora_te2 ...
    comfy_name: str | None  # clip_l, clip_g, ... (None: ComfyUI has no name for it)
    embedding_key: str  # tensor name in embedding files
    bundle_key: str  # tensor name of bundled embeddings inside adapter files
    # first segments that live below a wrapper module which recent transformers versions flatten away
    root: str = ""
    rooted_segments: tuple[str, ...] = ()

    def file_path(self, module_path: str) -> str:
        """In-memory module path -> the path files use (always with the wrapper level)."""
        if self.root and module_path.split(".", 1)[0] in self.rooted_segments:
            return self.root + module_path
        return module_path


@dataclass(frozen=True)
class SingleFileComponent:
    part: str
    prefix: str
    # (diffusers state dict, component config) -> original state dict, keys without the prefix
    convert: Callable[[Mapping[str, torch.Tensor], Mapping], StateDict]


@dataclass(frozen=True)
class FamilyKeymap:
    name: str
    model_types: frozenset[str]
    denoiser: str
    text_encoders: tuple[TextEncoderKeys, ...]
    # denoiser config (None: the real model's) -> diffusers <-> native module path map
    native_map: Callable[[Mapping | None], PrefixMap]
    # first path segments that identify native denoiser names (to tell them from diffusers names)
    native_roots: frozenset[str]
    # compound (underscore-containing) segment names, to undo kohya's `.` -> `_` flattening
    vocabulary: frozenset[str]
    kohya_native_denoiser: bool
    has_legacy_lora: bool
    single_file: tuple[SingleFileComponent, ...] = ()
    # model type -> diffusers pipeline class that loads the single-file checkpoint
    pipelines: Mapping[str, str] = field(default_factory=dict)
    extra_metadata: Mapping[str, str] = field(default_factory=dict)

    kohya_denoiser_prefix = "lora_unet"
    comfy_denoiser_prefix = "diffusion_model."
    comfy_text_encoder_prefix = "text_encoders.{name}.transformer."

    @property
    def parts(self) -> tuple[str, ...]:
        return (self.denoiser, *(te.part for te in self.text_encoders))

    def text_encoder(self, part: str) -> TextEncoderKeys:
        for te in self.text_encoders:
            if te.part == part:
                return te
        raise KeyError(f"{self.name} has no text encoder part {part!r}")
