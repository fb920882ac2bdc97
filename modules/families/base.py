"""The one interface every model family implements; the trainer only talks to this.

A family turns a source (diffusers folder, single-file checkpoint, backup) into a `Model`, encodes
images and prompts, produces a `Prediction` (model output + target) for a batch, samples through
the diffusers pipeline and saves. Conditioning is a dict of batch-first tensors whose keys the
family chooses (SDXL: two hidden states + pooled; Flux: packed ids; Z-Image: lists), so new
families fit without changing the trainer.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.config.enums import ModelType
from modules.train.loss import Prediction

# tokenizer component of each text-encoder part, and the dtype field of each part config
TOKENIZER_OF = {"text_encoder": "tokenizer", "text_encoder_2": "tokenizer_2", "text_encoder_3": "tokenizer_3",
                "text_encoder_4": "tokenizer_4"}


@dataclass
class Model:
    """A loaded model: diffusers/transformers components plus the training-time additions."""

    model_type: ModelType
    components: dict[str, Any]
    source: str = ""
    embeddings: list = field(default_factory=list)  # adapters.embeddings.TrainedEmbedding
    adapters: dict[str, Any] = field(default_factory=dict)  # part -> adapters.peft_adapters.AdapterInfo
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.components[name]

    def get(self, name: str, default=None) -> Any:
        return self.components.get(name, default)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {k: v for k, v in self.components.items() if isinstance(v, torch.nn.Module)}


@dataclass
class Inputs:
    """A batch as the family needs it: latents (already scaled) plus optional extras."""

    latents: torch.Tensor
    conditioning: dict[str, torch.Tensor]
    pixels: torch.Tensor | None = None
    masks: torch.Tensor | None = None  # latent-sized, 1 = train
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class ModelFamily(ABC):
    """Base of all families. Subclasses set the class attributes and implement the abstract methods."""

    model_types: tuple[ModelType, ...] = ()
    denoiser: str = "unet"
    text_encoders: tuple[str, ...] = ("text_encoder",)
    latent_scale: int = 8
    layer_presets: dict[str, list[str] | dict] = {"full": []}
    # conditioning keys produced by each text encoder (used for caption dropout)
    conditioning_keys: dict[str, tuple[str, ...]] = {}
    # tensor key of each text encoder in embedding files
    embedding_keys: dict[str, str] = {}
    is_flow_matching: bool = False

    def __init__(self, model_type: ModelType):
        self.model_type = ModelType(model_type)

    # ---- loading / building
    @abstractmethod
    def load(self, source: str, config, *, config_dir: str | None = None) -> Model:
        """Diffusers folder, single-file checkpoint (needs a local config folder) or INTERNAL backup."""

    @abstractmethod
    def build_tiny(self, out_dir: str | Path, seed: int = 0) -> Path:
        """Write a randomly initialised tiny model of this type as a diffusers folder."""

    def tokenizer_of(self, model: Model, text_encoder: str):
        return model[TOKENIZER_OF[text_encoder]]

    # ---- encoding
    @abstractmethod
    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1] → scaled latents (posterior mean)."""

    @abstractmethod
    def encode_prompts(self, model: Model, texts: list[str], config) -> dict[str, torch.Tensor]:
        """Captions (placeholders already expanded) → conditioning tensors."""

    def prepare_inputs(self, model: Model, latents, pixels, masks, conditioning, config, batch=None) -> Inputs:
        """Hook for model-specific extras (inpainting mask + masked latents, depth, size conditioning);
        `batch` carries the data geometry (original sizes, crop offsets)."""
        return Inputs(latents=latents, conditioning=conditioning, pixels=pixels, masks=masks)

    # ---- training
    @abstractmethod
    def predict(self, model: Model, inputs: Inputs, config, generator: torch.Generator,
                timestep_sampler, deterministic: bool = False) -> Prediction:
        """Noise the latents, run the denoiser, return output and target."""

    def num_train_timesteps(self, model: Model) -> int:
        return 1000

    def decode_for_vae_training(self, model: Model, latents: torch.Tensor) -> torch.Tensor:
        return model["vae"].decode(latents / model["vae"].config.scaling_factor).sample

    # ---- sampling
    @abstractmethod
    def sample(self, model: Model, sample_config, on_step=None):
        """Render one PIL image for a SampleConfig."""

    # ---- saving
    @abstractmethod
    def save_diffusers(self, model: Model, path: str | Path, dtype: torch.dtype | None = None) -> None:
        """Write the model as a diffusers folder."""

    def single_file_components(self, model: Model) -> dict[str, torch.nn.Module]:
        return {k: v for k, v in model.modules().items()}

    # ---- adapters
    def lora_target_modules(self, model: Model, part: str) -> list[str]:
        """Full names of every Linear/Conv2d module of a part (the layer filter narrows the denoiser)."""
        module = model[part]
        return [name for name, m in module.named_modules()
                if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and name]
