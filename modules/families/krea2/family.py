"""Krea 2: a single-stream flow-matching transformer on packed 2×2 latent patches of the Qwen-Image
autoencoder, conditioned on a stack of Qwen3-VL hidden states (several layers per token) that the
transformer fuses itself. Prompts are read as the pipeline reads them: the Qwen chat template padded
to a fixed length before the assistant suffix, positions counting real tokens only, the system prefix
dropped. The transformer reads σ ∈ [0, 1] as its timestep and masks the text padding."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import qwen3vl
from ..parts.patches import image_ids, pack, unpack
from .facts import FACTS

DEFAULT_LENGTH = 512  # Krea 2's text length
# the prompt template (the Krea 2 pipeline's): the first PREFIX_TOKENS tokens are dropped from the
# encoder's output, the SUFFIX_TOKENS tokens of the suffix follow the padding
PREFIX = ("<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
          "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
PREFIX_TOKENS, SUFFIX_TOKENS = 34, 5
# the words of the template that the Qwen tokenizer reads as one token each (for tiny tokenizers)
TEMPLATE_WORDS = ("system", "Describe", " the", " image", " by", " detailing", " color", " shape", " size",
                  " texture", " quantity", " text", " spatial", " relationships", " of", " objects", " and",
                  " background", "user", "assistant")
# pipeline settings kept in `model_index.json`, with the pipeline's defaults
PIPELINE_OPTIONS = {"text_encoder_select_layers": (2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35),
                    "is_distilled": False, "patch_size": 2}


def pipeline_options(source: str) -> dict:
    """The Krea 2 pipeline settings of a diffusers folder (the defaults for anything else)."""
    options = dict(PIPELINE_OPTIONS)
    index = Path(source) / "model_index.json"
    if index.is_file():
        saved = json.loads(index.read_text())
        options.update({k: saved[k] for k in PIPELINE_OPTIONS if k in saved})
    options["text_encoder_select_layers"] = tuple(options["text_encoder_select_layers"])
    return options


class Krea2Family(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        model.extra["krea2_pipeline"] = pipeline_options(model.source)
        if int(model.extra["krea2_pipeline"]["patch_size"]) != self.patch_size:
            raise ValueError(f"Krea 2 trains on 2×2 latent patches, this model uses "
                             f"{model.extra['krea2_pipeline']['patch_size']}")
        # sampling encodes prompts as training does; the sample settings do not carry the length
        model.extra["krea2_length"] = self._length(config)

    @staticmethod
    def _length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_LENGTH

    # ---------------------------------------------------------------- images
    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels → the Qwen-Image autoencoder's posterior mean of one frame, normalised per channel."""
        vae = model["vae"]
        with torch.no_grad():
            mean = vae.encode(pixels.to(vae.device, vae.dtype).unsqueeze(2)).latent_dist.mean[:, :, 0]
        shift, scale = self._latent_stats(vae, mean)
        return (mean - shift) / scale

    def decode_for_vae_training(self, model, latents: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        shift, scale = self._latent_stats(vae, latents)
        return vae.decode((latents * scale + shift).unsqueeze(2)).sample[:, :, 0]

    @staticmethod
    def _latent_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, vae.config.z_dim, 1, 1)
        mean = torch.tensor(vae.config.latents_mean).view(shape).to(like)
        std = torch.tensor(vae.config.latents_std).view(shape).to(like)
        return mean, std

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, self.expanded(model, texts, "text_encoder"), self._length(config))

    def _encode(self, model, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        """{"prompt_embeds": [B, length, taps, D], "prompt_mask": [B, length], 1 for real tokens}."""
        tokenizer = self.tokenizer_of(model, "text_encoder")
        tokens = tokenizer([PREFIX + t for t in texts], truncation=True, padding="max_length",
                           max_length=length + PREFIX_TOKENS - SUFFIX_TOKENS, return_tensors="pt")
        suffix = tokenizer([SUFFIX] * len(texts), return_tensors="pt")
        ids = torch.cat([tokens.input_ids, suffix.input_ids], dim=1)
        mask = torch.cat([tokens.attention_mask, suffix.attention_mask], dim=1)
        layers = model.extra.get("krea2_pipeline", PIPELINE_OPTIONS)["text_encoder_select_layers"]
        states = qwen3vl.hidden_states(model["text_encoder"], ids, mask, tuple(layers),
                                       qwen3vl.counted_positions(mask))
        hidden = torch.stack(states, dim=2)[:, PREFIX_TOKENS:]
        return {"prompt_embeds": hidden, "prompt_mask": mask[:, PREFIX_TOKENS:].to(hidden.device)}

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return sigma  # flow time in [0, 1], as the pipeline passes t / 1000

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        b, _, h, w = x.shape
        hidden = cond["prompt_embeds"].to(x.device, dtype)
        mask = cond["prompt_mask"].to(x.device).bool()
        positions = torch.cat([torch.zeros(hidden.shape[1], 3, device=x.device), image_ids(h, w, x.device, torch.float32)])
        out = transformer(hidden_states=pack(x).to(dtype), encoder_hidden_states=hidden, timestep=timesteps.to(dtype),
                          position_ids=positions, encoder_attention_mask=mask, return_dict=False)[0]
        return unpack(out, h, w)

    # ---------------------------------------------------------------- sampling
    def pipeline(self, model, sample_config):
        import diffusers

        parts = {k: model.components[k] for k in ("vae", "text_encoder", "tokenizer", "transformer")}
        options = model.extra.get("krea2_pipeline", PIPELINE_OPTIONS)
        return diffusers.Krea2Pipeline(**parts, scheduler=self.sampling_scheduler(model, sample_config), **options)

    def prompt_kwargs(self, model, sample_config) -> dict:
        return {**super().prompt_kwargs(model, sample_config),
                "max_sequence_length": model.extra.get("krea2_length", DEFAULT_LENGTH)}

    # ---------------------------------------------------------------- saving
    def save_diffusers(self, model, path, dtype=None) -> None:
        super().save_diffusers(model, path, dtype)
        index_path = Path(path) / "model_index.json"
        index = json.loads(index_path.read_text())
        options = model.extra.get("krea2_pipeline", PIPELINE_OPTIONS)
        index.update({k: list(v) if isinstance(v, tuple) else v for k, v in options.items()})
        index_path.write_text(json.dumps(index, indent=2))

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_krea2

        return build_tiny_krea2(out_dir, seed)


FAMILY = Krea2Family
