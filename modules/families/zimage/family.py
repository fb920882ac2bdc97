"""Z-Image: a single-stream flow-matching transformer conditioned on Qwen3.

Captions are wrapped in the Qwen chat template and read from the encoder's second to last layer;
the transformer receives one tensor per sample for the latents ([C, 1, H, W]) and for the caption
(only its real tokens). Its timestep input is 1 − σ and it predicts x₀ − noise, the negated velocity,
so the training prediction is its output negated. The text encoder conditions only (the facts mark
it not trainable: no adapter, no fine-tuning)."""
from __future__ import annotations

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import qwen3
from .facts import FACTS

DEFAULT_LENGTH = 512  # the pipeline's max_sequence_length
HIDDEN_LAYER = -2  # Z-Image reads the second to last hidden state


class ZImageFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def load(self, source, config, *, config_dir=None):
        from ..parts.diffusers_io import is_backup_dir

        model = super().load(source, config, config_dir=config_dir)
        name = self._transformer_file(config)
        if name and not is_backup_dir(model.source):  # a backup holds the transformer being trained
            model.components["transformer"] = self._load_transformer_file(name, model.source, config_dir, config)
        return model

    @staticmethod
    def _transformer_file(config) -> str:
        """`transformer.model_name`: a transformer checkpoint that replaces the base model's (a `.gguf`
        file loads through the quantization path instead)."""
        name = str(getattr(getattr(config, "transformer", None), "model_name", "") or "").strip()
        return "" if name.lower().endswith(".gguf") else name

    @staticmethod
    def _load_transformer_file(name: str, base: str, config_dir, config):
        """A single transformer file in the released (diffusers) or ComfyUI names, read by diffusers'
        converter, its configuration from the base model's folder."""
        from pathlib import Path

        from diffusers import ZImageTransformer2DModel

        from ..parts import diffusers_io, quantization
        from ..parts.sources import is_local, offline

        folder = Path(config_dir or base)
        if not (folder / "transformer").is_dir():
            raise FileNotFoundError(f"transformer.model_name {name} needs a diffusers base model folder with a "
                                    f"transformer config; {folder} has none")
        path = str(Path(name).expanduser()) if is_local(name) else name  # a hub file URL is downloaded
        transformer = ZImageTransformer2DModel.from_single_file(
            path, config=str(folder), subfolder="transformer", local_files_only=offline(config))
        quantization.quantize_loaded(transformer, config, "transformer")
        diffusers_io.freeze({"transformer": transformer}, ("transformer",), config)
        return transformer

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry these
        model.extra["zimage_text"] = {"length": self._length(config), "skip": self._layer_skip(config)}

    @staticmethod
    def _length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_LENGTH

    @staticmethod
    def _layer_skip(config) -> int:
        return int(getattr(config, "text_encoder_layer_skip", 0) or 0)

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._length(config), self._layer_skip(config))

    def _encode(self, model, texts: list[str], length: int, skip: int = 0) -> dict[str, torch.Tensor]:
        """{"prompt_embeds": [B, L, D] hidden states, "prompt_mask": [B, L], 1 for the caption's tokens}."""
        hidden, mask = qwen3.encode(model["text_encoder"], self.tokenizer_of(model, "text_encoder"),
                                    self.expanded(model, texts, "text_encoder"), length, HIDDEN_LAYER - skip)
        return {"prompt_embeds": hidden, "prompt_mask": mask}

    @staticmethod
    def captions(conditioning, device, dtype) -> list[torch.Tensor]:
        """One [tokens, D] tensor per sample: its caption's tokens without the padding."""
        hidden = conditioning["prompt_embeds"].to(device, dtype)
        mask = conditioning.get("prompt_mask")
        if mask is None:
            return list(hidden.unbind(0))
        return qwen3.unpadded(hidden, mask)

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return 1 - sigma  # the transformer multiplies by its t_scale (1000) itself

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        latents = list(x.to(dtype).unsqueeze(2).unbind(0))  # per sample [C, 1, H, W]
        captions = self.captions(inputs.conditioning, x.device, dtype)
        out = transformer(latents, timesteps.to(dtype), captions, return_dict=False)[0]
        return -torch.stack(out).squeeze(2)  # the model predicts x0 − noise

    # ---------------------------------------------------------------- sampling
    def sample(self, model, sample_config, on_step=None):
        """Classifier-free guidance as usual, negative + cfg · (positive − negative), above cfg 1:
        ZImagePipeline's guidance scale s means positive + s · (positive − negative), so it gets cfg − 1."""
        import copy

        adjusted = copy.copy(sample_config)
        adjusted.cfg_scale = max(float(sample_config.cfg_scale) - 1.0, 0.0)
        return super().sample(model, adjusted, on_step)

    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training (length, layer), one tensor each."""
        text = model.extra.get("zimage_text", {"length": DEFAULT_LENGTH, "skip": 0})
        dtype = model.dtype_of("transformer")
        kwargs = {"max_sequence_length": text["length"]}
        for prefix, prompt in (("", sample_config.prompt), ("negative_", sample_config.negative_prompt or "")):
            encoded = self._encode(model, [prompt], text["length"], text["skip"])
            kwargs[f"{prefix}prompt_embeds"] = self.captions(encoded, encoded["prompt_embeds"].device, dtype)
        return kwargs

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_zimage

        return build_tiny_zimage(out_dir, seed)


FAMILY = ZImageFamily
