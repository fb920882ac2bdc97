"""Ideogram 4: one packed sequence per sample, `[left padding][prompt tokens][image tokens]`.

Text: the prompt in the Qwen chat template, left-padded; the outputs of 13 Qwen3-VL decoder layers
(`QWEN3_VL_ACTIVATION_LAYERS`) concatenated per token form the text features, zero on padding.
Image: the VAE's posterior mean cut into 2×2 patches whose four cells become channels (patch row,
patch column, latent channel), normalised by the VAE's batch-norm statistics; the training latents
are these patched channels on the patch grid, [B, 4·C, H/2, W/2], one token per grid cell.

The transformer reads time t = 1 − σ (0 is noise, 1 is data) and predicts the velocity toward the
data, x₀ − noise: the objective's target noise − x₀ is its negative. Padding tokens sit in their
own attention segment, so they never reach the prompt or the image.

Sampling runs the diffusers pipeline: the conditional transformer and the unconditional one
(zeroed text, image tokens only) blended by the guidance scale, on the pipeline's logit-normal
schedule whose mean moves with the resolution. The same resolution-aware shift applies to training
timesteps when `dynamic_timestep_shifting` is on (`shift`)."""
from __future__ import annotations

import math

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import qwen3vl
from .facts import FACTS
from .tiny import tapped_layers

DEFAULT_TEXT_LENGTH = 512  # text tokens of a prompt when `text_encoder_sequence_length` is unset
PATCH = 2
BASE_PIXELS = 512 * 512  # the resolution at which the schedule is not shifted
BASE_MU = 0.0  # the pipeline's default schedule mean


def resolution_shift(pixels: int, base_mu: float = BASE_MU) -> float:
    """The timestep shift of Ideogram 4's resolution-aware schedule: its logit-normal mean is
    μ = base_μ + ½·ln(pixels / 512²), and moving σ's logit by μ is the shift s = e^μ."""
    return math.exp(base_mu + 0.5 * math.log(pixels / BASE_PIXELS))


def patchify(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 4·C, H/2, W/2], channel (patch row, patch column, latent channel)."""
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, PATCH * PATCH * c, h // PATCH, w // PATCH)


def unpatchify(latents: torch.Tensor) -> torch.Tensor:
    b, d, gh, gw = latents.shape
    c = d // (PATCH * PATCH)
    x = latents.view(b, PATCH, PATCH, c, gh, gw).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c, gh * PATCH, gw * PATCH)


def batch_norm_stats(vae) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the patched latent channels."""
    bn = vae.bn
    return bn.running_mean, torch.sqrt(bn.running_var + vae.config.batch_norm_eps)


class Ideogram4Family(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    @staticmethod
    def _text_length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_TEXT_LENGTH

    # ---------------------------------------------------------------- images
    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        with torch.no_grad():
            mean = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
        patched = patchify(mean.float())
        bn_mean, bn_std = batch_norm_stats(vae)
        return (patched - bn_mean.float().view(1, -1, 1, 1)) / bn_std.float().view(1, -1, 1, 1)

    def decode_for_vae_training(self, model, latents: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        bn_mean, bn_std = batch_norm_stats(vae)
        z = latents * bn_std.view(1, -1, 1, 1).to(latents) + bn_mean.view(1, -1, 1, 1).to(latents)
        return vae.decode(unpatchify(z)).sample

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._text_length(config))

    def _encode(self, model, texts: list[str], length: int | None) -> dict[str, torch.Tensor]:
        """{"text": features [B, L, 13·D] (zero on padding), "text_mask": [B, L]}, left-padded to
        `length` tokens (None: the longest prompt)."""
        tokenizer = self.tokenizer_of(model, "text_encoder")
        texts = self.expanded(model, texts, "text_encoder")
        ids, mask, positions = qwen3vl.left_padded(tokenizer, texts, length)
        if length is not None and ids.shape[1] < length:
            pad = length - ids.shape[1]
            ids, mask, positions = (torch.nn.functional.pad(t, (pad, 0)) for t in (ids, mask, positions))
        taps = qwen3vl.layer_outputs(model["text_encoder"], ids, mask, positions, tapped_layers())
        features = torch.stack(taps, dim=-1).flatten(2)  # per token: (width, layer) as the pipeline orders them
        mask = mask.to(features.device)
        return {"text": (features * mask.unsqueeze(-1).to(features.dtype)).float(), "text_mask": mask}

    # ---------------------------------------------------------------- training
    def shift(self, config, model, latents) -> float:
        """Ideogram's own resolution-aware shift when `dynamic_timestep_shifting` is on (the pixel
        count of the batch's images, from the patch grid), else `timestep_shift`."""
        if getattr(config, "dynamic_timestep_shifting", False):
            pixels = latents.shape[-2] * latents.shape[-1] * self.latent_scale ** 2
            return resolution_shift(pixels)
        return float(config.timestep_shift)

    def model_timesteps(self, sigma, timesteps):
        return 1.0 - sigma  # the transformer's time runs from noise (0) to data (1)

    def run_denoiser(self, model, x, timesteps, inputs, config):
        from diffusers import Ideogram4Pipeline

        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        b, d, gh, gw = x.shape
        text, text_mask = inputs.conditioning["text"], inputs.conditioning["text_mask"].to(x.device)
        # columns that are padding in every sample attend to nothing that matters: leave them out
        used = int(text_mask.bool().any(dim=0).sum())
        text, text_mask = text[:, text.shape[1] - used:].to(x.device), text_mask[:, text_mask.shape[1] - used:]
        image_tokens = gh * gw
        tokens = x.permute(0, 2, 3, 1).reshape(b, image_tokens, d)
        hidden = torch.cat([tokens.new_zeros(b, used, d), tokens], dim=1)
        features = torch.cat([text, text.new_zeros(b, image_tokens, text.shape[-1])], dim=1)
        lengths = [int(n) for n in text_mask.sum(dim=1)]
        position_ids, segment_ids, indicator = Ideogram4Pipeline._prepare_ids(lengths, gh, gw, used, x.device)
        out = transformer(hidden_states=hidden.to(dtype), timestep=timesteps.to(dtype),
                          encoder_hidden_states=features.to(dtype), position_ids=position_ids,
                          segment_ids=segment_ids, indicator=indicator, return_dict=False)[0]
        velocity = out[:, used:].reshape(b, gh, gw, d).permute(0, 3, 1, 2)
        return -velocity  # the objective's target is noise − x₀

    # ---------------------------------------------------------------- sampling
    def pipeline(self, model, sample_config):
        pipe = super().pipeline(model, sample_config)
        if pipe.unconditional_transformer is None:  # left out with include = false: the model guides itself
            pipe.unconditional_transformer = model["transformer"]
        return pipe

    def prompt_kwargs(self, model, sample_config) -> dict:
        """The prompt alone (Ideogram 4 has no negative prompt: the unconditional transformer sees no text)."""
        return {"prompt": self.expanded(model, [sample_config.prompt], "text_encoder")[0]}

    def sample_kwargs(self, model, sample_config) -> dict:
        """A constant guidance scale instead of the pipeline's 48-step schedule; the text region as
        long as the prompt (a longer one only adds padding)."""
        tokens = len(qwen3vl.chat_token_ids(self.tokenizer_of(model, "text_encoder"),
                                            self.prompt_kwargs(model, sample_config)["prompt"]))
        return {"guidance_schedule": None, "max_sequence_length": tokens}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_ideogram4

        return build_tiny_ideogram4(out_dir, seed)


FAMILY = Ideogram4Family
