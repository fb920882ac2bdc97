"""What every model family is: a record of facts (plain data) and a small behaviour interface.

`FamilyFacts` is importable without torch: the UI reads it to know which parts, text encoders,
methods, formats and settings a model type has. `ModelFamily` is the behaviour the trainer talks
to: load, encode, predict, sample, save. Each family is one package under `modules/families/`
holding `facts.py` (its `FACTS`), `family.py` (its `ModelFamily`), `keymap.py` (file-format names)
and `tiny.py` (a random tiny model for tests), registered by one line in `registry.py`.

Conditioning is a dict of batch-first tensors whose keys the family chooses (SDXL: two hidden
states + pooled; Flux: packed ids), so new families fit without changing the trainer.
"""
from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

    from modules.formats.keymap import FamilyKeymap
    from modules.objectives import Prediction, TimestepSampler

Objective = Literal["ddpm", "flow_matching"]


@dataclass(frozen=True)
class TextEncoderFacts:
    part: str  # model component: text_encoder, text_encoder_2, ...
    tokenizer: str  # the component that tokenizes for it
    embedding_key: str  # tensor name in embedding files
    kohya_prefix: str  # lora_te / lora_te1 ...
    comfy_name: str | None  # clip_l, clip_g, t5xxl ... (None: ComfyUI has no name for it)
    conditioning_keys: tuple[str, ...] = ()  # conditioning entries it produces (zeroed by caption dropout)
    optional: bool = False  # may be left out (`include` off): the family conditions on the others alone
    trainable: bool = True  # False: never trained (no adapter, no fine-tuning), only encodes


@dataclass(frozen=True)
class TokenSequence:
    """Cached text tensors that run over a caption's tokens along their first dimension and mean nothing
    past the caption's own tokens: the text cache keeps each caption's own tokens only, and a batch pads
    them with `padding` to its longest caption. Declare only tensors that the denoiser reads up to the
    batch's longest caption, or per caption up to its own length, so that the padded batch predicts
    exactly what the full-length encoding does."""

    keys: tuple[str, ...]  # conditioning entries cut and padded together (a mask among them, too)
    # the entry that gives the caption's token count: a mask (its last nonzero position ends the
    # caption) or a count (a scalar per caption)
    length: str
    padding: float = 0.0


@dataclass(frozen=True)
class FamilyFacts:
    """Everything about a family that is data, not behaviour."""

    name: str
    package: str  # modules.families.<package>
    model_types: tuple[str, ...]
    parts: tuple[str, ...]  # components of the diffusers folder that are modules
    denoiser: str
    text_encoders: tuple[TextEncoderFacts, ...]
    objective: Objective
    latent_scale: int  # pixels per latent cell
    # bucket sides are multiples of this many pixels (OneTrainer's value for the family; at least the
    # latent scale, times the patch size for transformers on 2×2 latent patches)
    bucket_quantum: int
    pipelines: Mapping[str, str]  # model type -> diffusers pipeline class
    methods: tuple[str, ...]  # TrainingMethod names this family trains
    formats: Mapping[str, tuple[str, ...]]  # TrainingMethod name -> ModelFormat names it writes
    # family-specific settings (dotted TrainConfig paths) that this family reads
    reads: frozenset[str] = frozenset()
    latent_dims: int = 4  # 4: images [B, C, H, W]; 5: video [B, C, F, H, W]
    # text encodings cached at each caption's own length (none: cached as encoded, every caption alike)
    token_sequences: tuple[TokenSequence, ...] = ()

    def text_encoder(self, part: str) -> TextEncoderFacts:
        for te in self.text_encoders:
            if te.part == part:
                return te
        raise KeyError(f"{self.name} has no text encoder {part!r}")

    @property
    def text_encoder_parts(self) -> tuple[str, ...]:
        return tuple(te.part for te in self.text_encoders)

    @staticmethod
    def needs_pixels(model_type) -> bool:
        """The denoiser needs the pixels at train time (inpainting mask, depth input): no latent cache."""
        from modules.config.enums import ModelType

        model_type = ModelType(str(model_type))
        return model_type.has_mask_input() or model_type.has_depth_input()

    def layer_presets(self, model_type) -> list:
        """The named layer selections of `model_type` (`modules/config/layer_presets.py`, shared with
        the UI, which offers them for all model types)."""
        from modules.config.enums import ModelType
        from modules.config.layer_presets import layer_presets

        return layer_presets(ModelType(str(model_type)))

    @staticmethod
    def has_mask_input(model_type) -> bool:
        """The denoiser takes an inpainting mask (read from the concepts' mask images)."""
        from modules.config.enums import ModelType

        return ModelType(str(model_type)).has_mask_input()

    def pipeline(self, model_type) -> str:
        return self.pipelines[str(model_type)]


@dataclass
class Model:
    """A loaded model: diffusers/transformers components plus the training-time additions."""

    model_type: Any  # ModelType
    components: dict[str, Any]
    source: str = ""
    embeddings: list = field(default_factory=list)  # adapters.embeddings.TrainedEmbedding
    adapters: dict[str, Any] = field(default_factory=dict)  # part -> adapters.peft_adapters.AdapterInfo
    extra: dict[str, Any] = field(default_factory=dict)
    # part -> (component, module, parameter name) of the parameter `dtype_of` reads, held weakly
    _weight_slots: dict[str, tuple] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getitem__(self, name: str) -> Any:
        return self.components[name]

    def get(self, name: str, default=None) -> Any:
        return self.components.get(name, default)

    def dtype_of(self, part: str) -> torch.dtype:
        """The dtype of a part's weights: its first floating-point parameter's (diffusers' `.dtype`
        property walks every parameter, too slow to ask on every step). Asked on every step: where that
        parameter sits is remembered, and its dtype read from there, so a cast or a replaced parameter
        shows at once."""
        component = self.components[part]
        found = self._weight_slots.get(part)
        if found is not None and found[0]() is component and (owner := found[1]()) is not None:
            parameter = owner._parameters.get(found[2])
            if parameter is not None and parameter.is_floating_point():
                return parameter.dtype
        for owner in component.modules():
            for name, parameter in owner._parameters.items():
                if parameter is not None and parameter.is_floating_point():
                    # weak: a part dropped from the model (an offloaded text encoder) is freed
                    self._weight_slots[part] = (weakref.ref(component), weakref.ref(owner), name)
                    return parameter.dtype
        raise ValueError(f"{part} has no floating-point weights")

    def modules(self) -> dict[str, torch.nn.Module]:
        import torch

        return {k: v for k, v in self.components.items() if isinstance(v, torch.nn.Module)}


@dataclass
class Inputs:
    """A batch as the denoiser needs it: latents (already scaled) plus optional extras."""

    latents: torch.Tensor
    conditioning: dict[str, torch.Tensor]
    pixels: torch.Tensor | None = None
    masks: torch.Tensor | None = None  # latent-sized, 1 = train
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class ModelFamily(ABC):
    """The behaviour of one family. Subclasses set `facts` and implement the abstract methods."""

    facts: FamilyFacts

    def __init__(self, model_type):
        from modules.config.enums import ModelType

        self.model_type = ModelType(model_type)

    # ---- facts, for short
    @property
    def denoiser(self) -> str:
        return self.facts.denoiser

    @property
    def text_encoders(self) -> tuple[str, ...]:
        return self.facts.text_encoder_parts

    @property
    def latent_scale(self) -> int:
        return self.facts.latent_scale

    @property
    def pixel_quantum(self) -> int:
        """Pixels per step of an image side: the data pipeline makes every bucket side a multiple of it."""
        return self.facts.bucket_quantum

    @property
    def needs_pixels(self) -> bool:
        return self.facts.needs_pixels(self.model_type)

    @property
    def has_mask_input(self) -> bool:
        return self.facts.has_mask_input(self.model_type)

    @property
    def keymap(self) -> FamilyKeymap:
        """File-format names of this model type (adapter, embedding and single-file keys), from the
        `KEYMAPS` of the family's `keymap.py`."""
        from importlib import import_module

        keymaps = import_module(f"modules.families.{self.facts.package}.keymap").KEYMAPS
        for keymap in keymaps:
            if self.model_type.value in keymap.model_types:
                return keymap
        raise NotImplementedError(f"{self.facts.name} has no file-format key map for {self.model_type.value}")

    def tokenizer_of(self, model: Model, text_encoder: str):
        return model[self.facts.text_encoder(text_encoder).tokenizer]

    # ---- loading / building
    @abstractmethod
    def load(self, source: str, config, *, config_dir: str | None = None) -> Model:
        """Diffusers folder, single-file checkpoint (needs a local config folder), hub name or backup."""

    @abstractmethod
    def build_tiny(self, out_dir: str | Path, seed: int = 0) -> Path:
        """Write a randomly initialised tiny model of this type as a diffusers folder."""

    # ---- encoding
    @abstractmethod
    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1] → scaled latents (posterior mean)."""

    @abstractmethod
    def encode_prompts(self, model: Model, texts: list[str], config) -> dict[str, torch.Tensor]:
        """Captions → conditioning tensors. Each text encoder sees the captions with its own
        embedding placeholders expanded (`expand_prompt(text, part)` in `model.extra`)."""

    def prepare_inputs(self, model: Model, latents, pixels, masks, conditioning, config, batch=None) -> Inputs:
        """Hook for model-specific extras (inpainting mask + masked latents, depth, size conditioning);
        `batch` carries the data geometry (original sizes, crop offsets)."""
        return Inputs(latents=latents, conditioning=conditioning, pixels=pixels, masks=masks)

    # ---- training
    @abstractmethod
    def predict(self, model: Model, inputs: Inputs, config, generator: torch.Generator,
                timestep_sampler: TimestepSampler, deterministic: bool = False) -> Prediction:
        """Noise the latents, run the denoiser, return output and target."""

    def num_train_timesteps(self, model: Model) -> int:
        return 1000

    def decode_for_vae_training(self, model: Model, latents: torch.Tensor) -> torch.Tensor:
        return model["vae"].decode(latents / model["vae"].config.scaling_factor).sample

    def frame_count(self, available: int, target: int) -> int:
        """Frames one training clip holds, given a clip with `available` frames and the configured
        `target` (TrainConfig.frames). Image families train single frames; video families override
        this to the counts their autoencoder takes (and images become one-frame clips)."""
        return 1

    def warnings(self, config) -> list[tuple[str, str]]:
        """(setting path, message) for settings this family accepts but handles differently."""
        return []

    # ---- sampling
    @abstractmethod
    def sample(self, model: Model, sample_config, on_step=None):
        """Render one sample (a PIL image, or a list of frames for video) for a SampleConfig."""

    # ---- saving
    @abstractmethod
    def save_diffusers(self, model: Model, path: str | Path, dtype: torch.dtype | None = None) -> None:
        """Write the model as a diffusers folder."""

    def single_file_components(self, model: Model) -> dict[str, torch.nn.Module]:
        return dict(model.modules())

    # ---- adapters
    def lora_target_modules(self, model: Model, part: str) -> list[str]:
        """Full names of every Linear/Conv2d module of a part (the layer filter narrows the denoiser)."""
        import torch

        module = model[part]
        return [name for name, m in module.named_modules()
                if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and name]
