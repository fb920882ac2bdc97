"""Ernie Image: a single-stream transformer over image tokens followed by text tokens. The image is
the Flux 2 autoencoder's latent mean cut into 2×2 patches and normalised with the autoencoder's
BatchNorm statistics; the text is the second to last hidden state of a Mistral 3 encoder, whose
padding the transformer masks through the prompts' lengths. The transformer's timestep is σ·1000,
its output the velocity noise − x₀."""
from __future__ import annotations

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import mistral3
from .facts import FACTS

DEFAULT_TEXT_LENGTH = 512  # tokens a prompt is cut to when no sequence length is set
TEXT_LAYER = -2  # the hidden state the transformer was trained on
BN_EPS = 1e-5  # the BatchNorm epsilon the pipeline decodes with


def patchify(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 4C, H/2, W/2], channel-major within each 2×2 patch."""
    b, c, h, w = latents.shape
    return latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)


def unpatchify(latents: torch.Tensor) -> torch.Tensor:
    b, c, h, w = latents.shape
    return latents.reshape(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, h * 2, w * 2)


def _bn_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = vae.bn.running_mean.view(1, -1, 1, 1).to(like.device, torch.float32)
    std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1).to(like.device, torch.float32) + BN_EPS)
    return mean, std


def encode_latents(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] -> normalised patch latents [B, 4C, H/2^(n), W/2^(n)] (float32)."""
    with torch.no_grad():
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
    patches = patchify(latents.float())
    mean, std = _bn_stats(vae, patches)
    return (patches - mean) / std


def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    mean, std = _bn_stats(vae, latents)
    return vae.decode(unpatchify(latents.float() * std + mean).to(vae.dtype)).sample


def tokenize(tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids [B, length], attention mask [B, length]): each prompt as the pipeline tokenizes it (no chat
    template, the tokenizer's own special tokens), padded on the right, so that the causal encoder's states
    of the prompt's tokens are those of the prompt alone."""
    tokens = tokenizer(list(texts), add_special_tokens=True, padding="max_length", max_length=length,
                       truncation=True, padding_side="right", return_tensors="pt")
    return tokens.input_ids, tokens.attention_mask


class ErnieFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS
    # the latents are already 2×2 patches: one latent cell is one image token (the dynamic shift counts tokens)
    patch_size = 1

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        model.extra["ernie_text_length"] = self._text_length(config)  # sampling encodes prompts as training does

    @staticmethod
    def _text_length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_TEXT_LENGTH

    # ---------------------------------------------------------------- latents
    def encode_images(self, model, pixels):
        return encode_latents(model["vae"], pixels)

    def decode_for_vae_training(self, model, latents):
        return decode_latents(model["vae"], latents)

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, self.expanded(model, texts, "text_encoder"), self._text_length(config))

    def _encode(self, model, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        """{"text": hidden states [B, length, D], zero past each prompt, "text_lens": tokens per prompt [B]}."""
        ids, mask = tokenize(self.tokenizer_of(model, "text_encoder"), texts, length)
        hidden = mistral3.hidden_states(model["text_encoder"], ids, mask, (TEXT_LAYER,))[0]
        mask = mask.to(hidden.device)
        return {"text": hidden * mask.unsqueeze(-1).to(hidden.dtype), "text_lens": mask.sum(dim=1)}

    # ---------------------------------------------------------------- training
    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        lens = inputs.conditioning["text_lens"].to(x.device).long().view(-1)
        # tokens past the longest prompt are masked for every sample: leaving them out changes nothing
        text = inputs.conditioning["text"][:, :max(int(lens.max()), 1)].to(x.device, dtype)
        return transformer(hidden_states=x.to(dtype), timestep=timesteps.to(dtype), text_bth=text, text_lens=lens,
                           return_dict=False)[0]

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training, as the pipeline's per-prompt states; the
        prompt enhancer is not used."""
        length = model.extra.get("ernie_text_length", DEFAULT_TEXT_LENGTH)
        texts = self.expanded(model, [sample_config.prompt, sample_config.negative_prompt or ""], "text_encoder")
        encoded = self._encode(model, texts, length)
        states = [encoded["text"][i, :int(n)] for i, n in enumerate(encoded["text_lens"].tolist())]
        return {"prompt_embeds": states[:1], "negative_prompt_embeds": states[1:], "use_pe": False}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_ernie

        return build_tiny_ernie(out_dir, seed)


FAMILY = ErnieFamily
