"""Flux 2 dev and Klein: the VAE's latents patchified 2×2 and normalised by the VAE's batch-norm
statistics, each latent cell one token with 4-axis (t, h, w, l) position ids; the prompt encoded by
an LLM (Mistral 3 for dev, Qwen3 for Klein) whose intermediate hidden states are concatenated per
token; distilled guidance as an input for dev; flow matching with the transformer reading t/1000.

The variant is the loaded text encoder's: a Qwen3 encoder is Klein, sampled and saved with
Flux2KleinPipeline (whose `is_distilled` flag comes from the model folder). Flux 2 trains no text
encoder (no adapter, no fine-tune): the facts mark it not trainable."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import diffusers_io, mistral3, qwen3
from .facts import FACTS

DEFAULT_TEXT_LENGTH = 512
DEV_PIPELINE, KLEIN_PIPELINE = "Flux2Pipeline", "Flux2KleinPipeline"


def patchify(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 4C, H/2, W/2]: each 2×2 patch folded into channels, channel-major."""
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c * 4, h // 2, w // 2)


def tokens(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, H·W, C]: one token per latent cell, row-major."""
    b, c, h, w = latents.shape
    return latents.reshape(b, c, h * w).permute(0, 2, 1)


def untokens(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    b, _, c = x.shape
    return x.permute(0, 2, 1).reshape(b, c, height, width)


def image_ids(batch: int, height: int, width: int, device) -> torch.Tensor:
    """[B, H·W, 4] position ids of the image tokens: (0, row, column, 0)."""
    ids = torch.zeros(height, width, 4, device=device)
    ids[..., 1] = torch.arange(height, device=device)[:, None]
    ids[..., 2] = torch.arange(width, device=device)[None, :]
    return ids.reshape(1, height * width, 4).expand(batch, -1, -1)


def text_ids(batch: int, length: int, device) -> torch.Tensor:
    """[B, L, 4] position ids of the text tokens: (0, 0, 0, index)."""
    ids = torch.zeros(length, 4, device=device)
    ids[:, 3] = torch.arange(length, device=device)
    return ids.reshape(1, length, 4).expand(batch, -1, -1)


def is_klein(model) -> bool:
    return "Qwen3" in type(model["text_encoder"]).__name__


def encoder_layers(text_encoder, joint_attention_dim: int) -> tuple[int, ...]:
    """The hidden-state layers whose concatenation the transformer reads: as many as its text width
    holds, evenly spaced (40 layers, 3 read: 10, 20, 30 for dev's Mistral; 36: 9, 18, 27 for Klein)."""
    config = getattr(text_encoder.config, "text_config", text_encoder.config)
    count = joint_attention_dim // int(config.hidden_size)
    layers = int(config.num_hidden_layers)
    return tuple(layers * i // (count + 1) for i in range(1, count + 1))


class Flux2Family(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS
    patch_size = 1  # the latents are patchified already: one token per latent cell

    def load(self, source, config, *, config_dir=None):
        model = super().load(source, config, config_dir=config_dir)
        index = Path(model.source) / "model_index.json"
        spec = json.loads(index.read_text()) if index.is_file() else {}
        model.extra["flux2_distilled"] = bool(spec.get("is_distilled", False))
        return model

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry the length
        model.extra["flux2_text_length"] = self._text_length(config)

    @staticmethod
    def _text_length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_TEXT_LENGTH

    # ---------------------------------------------------------------- latents
    def encode_images(self, model, pixels):
        vae = model["vae"]
        with torch.no_grad():
            latents = patchify(vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode())
            mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents)
            std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(latents)
        return (latents - mean) / std

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return {"prompt_embeds": self._encode(model, texts, self._text_length(config))}

    def _encode(self, model, texts: list[str], length: int) -> torch.Tensor:
        """[B, L, layers · D]: the chosen hidden states of each token, concatenated."""
        encoder, tokenizer = model["text_encoder"], model["tokenizer"]
        layers = encoder_layers(encoder, model["transformer"].config.joint_attention_dim)
        if is_klein(model):
            ids, mask = qwen3.tokenize(tokenizer, list(texts), length, enable_thinking=False)
            states = qwen3.hidden_states(encoder, ids, mask, layers)
        else:
            from diffusers.pipelines.flux2.system_messages import SYSTEM_MESSAGE

            ids, mask = mistral3.tokenize(tokenizer, list(texts), length, SYSTEM_MESSAGE)
            states = mistral3.hidden_states(encoder, ids, mask, layers)
        return torch.cat(states, dim=-1)

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return timesteps / 1000  # the transformer multiplies by 1000 itself

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        b, _, h, w = x.shape
        hidden = inputs.conditioning["prompt_embeds"].to(x.device, dtype)
        guidance = None
        if transformer.config.guidance_embeds:
            guidance = torch.full((b,), float(config.transformer.guidance_scale), device=x.device, dtype=torch.float32)
        out = transformer(hidden_states=tokens(x).to(dtype), timestep=timesteps.to(dtype), guidance=guidance,
                          encoder_hidden_states=hidden, txt_ids=text_ids(b, hidden.shape[1], x.device),
                          img_ids=image_ids(b, h, w, x.device), return_dict=False)[0]
        return untokens(out, h, w)

    # ---------------------------------------------------------------- sampling
    def model_pipeline_class(self, model) -> str:
        return KLEIN_PIPELINE if is_klein(model) else DEV_PIPELINE

    def pipeline(self, model, sample_config):
        import diffusers

        cls = getattr(diffusers, self.model_pipeline_class(model))
        parts = {k: model[k] for k in ("vae", "text_encoder", "tokenizer", "transformer")}
        extra = {"is_distilled": model.extra.get("flux2_distilled", False)} if is_klein(model) else {}
        return cls(**parts, scheduler=self.sampling_scheduler(model, sample_config), **extra)

    def prompt_kwargs(self, model, sample_config) -> dict:
        length = model.extra.get("flux2_text_length", DEFAULT_TEXT_LENGTH)
        dtype = model.dtype_of("transformer")
        kwargs = {"prompt_embeds": self._encode(model, [sample_config.prompt], length).to(dtype),
                  "max_sequence_length": length}
        if is_klein(model):  # the base model samples with classifier-free guidance
            negative = self._encode(model, [sample_config.negative_prompt or ""], length)
            kwargs["negative_prompt_embeds"] = negative.to(dtype)
        return kwargs

    # ---------------------------------------------------------------- saving
    def save_diffusers(self, model, path, dtype=None) -> None:
        diffusers_io.save_folder(model.components, path, self.model_pipeline_class(model), dtype)
        if is_klein(model):
            index_path = Path(path) / "model_index.json"
            index = json.loads(index_path.read_text())
            index["is_distilled"] = bool(model.extra.get("flux2_distilled", False))
            index_path.write_text(json.dumps(index, indent=2))

    def build_tiny(self, out_dir, seed: int = 0, variant: str = "dev"):
        from .tiny import build_tiny_flux2

        return build_tiny_flux2(out_dir, seed, variant)


FAMILY = Flux2Family
