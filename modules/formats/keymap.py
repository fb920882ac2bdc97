"""What a model family contributes to file formats: names, prefixes, layout converters and fusions.

Each family package builds its `FamilyKeymap` objects (`modules/families/<family>/keymap.py`) and
hands them to the writers and readers in `modules.formats`, which never look a family up themselves.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from modules.formats.prefix_map import PrefixMap

StateDict = dict[str, torch.Tensor]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


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
    # LEGACY_LORA prefix where it is not the kohya one (Chroma's single T5: `lora_te`)
    legacy_prefix: str | None = None
    # kohya prefixes other tools write for this encoder: read, never written
    read_prefixes: tuple[str, ...] = ()

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
    optional: bool = False  # a model without this component (a text encoder left out) is written without it
    # the single-file formats it writes (empty: every format that no other entry of the part names)
    formats: frozenset[str] = frozenset()
    # (original state dict, component config) -> diffusers state dict: reads a file of this component
    # in the original layout, at any model size (None: diffusers' own single-file converter reads it)
    from_original: Callable[[Mapping[str, torch.Tensor], Mapping], StateDict] | None = None


@lru_cache(maxsize=1024)
def _pattern(template: str) -> re.Pattern:
    """`transformer_blocks.{i}.attn.to_q` -> a regex with one named digit group per placeholder."""
    pieces = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(re.escape(piece) if n % 2 == 0 else f"(?P<{piece}>[0-9]+)" for n, piece in enumerate(pieces))
    return re.compile(regex + r"\Z")


def _expand(sources: str) -> tuple[str, ...]:
    """`a.{i}.attn.to_q|to_k|to_v` -> (`a.{i}.attn.to_q`, `a.{i}.attn.to_k`, `a.{i}.attn.to_v`)."""
    head, dot, last = sources.rpartition(".")
    return tuple(f"{head}{dot}{leaf}" for leaf in last.split("|"))


@dataclass(frozen=True)
class Fusion:
    """Several linear modules of one part that some conventions store as one fused module.

    The sources share their input; the fused module's output is the sources' outputs stacked in
    order (q/k/v -> qkv). Paths are module paths within `part` in the in-memory (diffusers) naming,
    with `{i}`-style placeholders for block indices; the target is the fused module's path in the
    same naming, which the family's native map then renames like any other module.

        Fusion("transformer", "transformer_blocks.{i}.attn.to_q|to_k|to_v",
               "transformer_blocks.{i}.attn.qkv", formats={"KOHYA_LORA", "ORIGINAL_LORA", "COMFY_LORA"})

    `sources` is a tuple of paths, or one path whose last segment lists alternatives with `|`.
    `ratios` are the sources' relative output sizes (default: equal), used to split a fused module
    back; Flux's single-block `linear1` (q, k, v, MLP) has ratios (1, 1, 1, 4).
    """

    part: str
    sources: tuple[str, ...] | str
    target: str
    formats: frozenset[str]  # ModelFormat names whose files hold the fused module
    ratios: tuple[int, ...] = ()

    def __post_init__(self):
        sources = _expand(self.sources) if isinstance(self.sources, str) else tuple(self.sources)
        ratios = tuple(self.ratios) or (1,) * len(sources)
        if len(sources) < 2:
            raise ValueError(f"a fusion needs at least two source modules, got {sources}")
        if len(ratios) != len(sources) or any(r <= 0 for r in ratios):
            raise ValueError(f"fusion ratios {ratios} do not fit the sources {sources}")
        names = set(_PLACEHOLDER.findall(self.target))
        for source in sources:
            if set(_PLACEHOLDER.findall(source)) != names:
                raise ValueError(f"fusion source {source!r} and target {self.target!r} use different placeholders")
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "ratios", ratios)
        object.__setattr__(self, "formats", frozenset(str(f) for f in self.formats))

    def applies_to(self, fmt) -> bool:
        return str(fmt) in self.formats

    def match_source(self, module: str) -> tuple[int, dict[str, str]] | None:
        """(index of the source, placeholder values) when `module` is one of the sources."""
        for index, source in enumerate(self.sources):
            hit = _pattern(source).match(module)
            if hit:
                return index, hit.groupdict()
        return None

    def match_target(self, module: str) -> dict[str, str] | None:
        hit = _pattern(self.target).match(module)
        return hit.groupdict() if hit else None

    def source_paths(self, values: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(source.format(**values) for source in self.sources)

    def target_path(self, values: Mapping[str, str]) -> str:
        return self.target.format(**values)

    def split_sizes(self, total: int) -> list[int]:
        """Output sizes of the sources within a fused output of `total` rows."""
        unit, rest = divmod(total, sum(self.ratios))
        if rest:
            raise ValueError(f"{total} fused outputs do not split in the ratios {self.ratios} ({self.target})")
        return [unit * r for r in self.ratios]


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
    # modules that some adapter conventions store fused (q/k/v -> qkv)
    fusions: tuple[Fusion, ...] = ()
    # denoiser prefix of LEGACY_LORA files where it is not kohya's (SD3: `lora_transformer`)
    legacy_denoiser_prefix: str | None = None
    # LEGACY_LORA keeps the in-memory names: `<part>.<dotted module path>` with lora_down/lora_up/alpha
    legacy_lora_canonical: bool = False
    # LEGACY_LORA names the denoiser natively, not with diffusers names (Stable Cascade's `lora_prior_unet_`)
    legacy_native_denoiser: bool = False
    # denoiser config (None: the real model's) -> diffusers module paths whose native counterpart holds
    # the two halves of its output in the other order (adaLN shift/scale); native adapter files swap them
    swapped_outputs: Callable[[Mapping | None], frozenset[str]] | None = None

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

    def fusions_for(self, fmt) -> tuple[Fusion, ...]:
        return tuple(f for f in self.fusions if f.applies_to(fmt))


def require_keymap(keymap) -> FamilyKeymap:
    """Formats functions take the family's key map, not a model type."""
    if not isinstance(keymap, FamilyKeymap):
        raise TypeError(f"expected a FamilyKeymap (the model family's `keymap`), got {keymap!r}")
    return keymap
