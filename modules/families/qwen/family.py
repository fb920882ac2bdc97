"""Qwen-Image: an MMDiT transformer on packed 2×2 latent patches of single-frame video latents, the
image layout given as `img_shapes` (RoPE), conditioned on the last hidden state of Qwen2.5-VL with the
prompt template's leading tokens dropped and the padding masked. Flow matching with a dynamic shift;
the transformer reads t/1000.

Latents are what the Qwen-Image VAE works on: [B, C, 1, H, W], normalised per channel with the VAE's
`latents_mean` / `latents_std`. They are cached, noised and compared in this shape; only the
transformer sees them packed."""
from __future__ import annotations

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import qwen25vl, qwen_image_vae
from ..parts.patches import pack, unpack
from .facts import FACTS

DEFAULT_TEXT_LENGTH = 512  # OneTrainer's text_encoder_sequence_length default (the pipeline's, too)


def trimmed(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text states and mask cut to the batch's longest caption (padding beyond it changes nothing: it is
    masked, and the text positions do not depend on the sequence length). When every caption fills that
    length (one caption a batch, captions of one length) the mask masks nothing: None, as the pipeline
    leaves it out; the same prediction without the joint attention mask built and applied in every block
    (the kernels without a mask are the faster ones)."""
    lengths = mask.sum(dim=1).tolist()  # one read of the device for both questions
    longest = max(max(lengths), 1)
    if min(lengths) == longest:
        return hidden[:, :longest], None
    return hidden[:, :longest], mask[:, :longest]


class QwenFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry the length
        model.extra["qwen_text_length"] = self._text_length(config)

    @staticmethod
    def _text_length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return min(int(length), qwen25vl.MAX_LENGTH) if length else DEFAULT_TEXT_LENGTH

    # ---------------------------------------------------------------- images
    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        return qwen_image_vae.encode(model["vae"], pixels)

    def decode_for_vae_training(self, model, latents: torch.Tensor) -> torch.Tensor:
        return qwen_image_vae.decode(model["vae"], latents)

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._text_length(config))

    def _encode(self, model, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        """{"prompt_embeds": [B, length, D], "prompt_mask": [B, length], 1 for the caption's tokens}."""
        hidden, mask = qwen25vl.encode(model["text_encoder"], self.tokenizer_of(model, "text_encoder"),
                                       self.expanded(model, texts, "text_encoder"), length)
        return {"prompt_embeds": hidden, "prompt_mask": mask}

    def lora_target_modules(self, model, part: str) -> list[str]:
        names = super().lora_target_modules(model, part)
        return qwen25vl.language_modules(model[part], names) if part == "text_encoder" else names

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return timesteps / 1000  # the transformer multiplies by 1000 itself

    def run_denoiser(self, model, x, timesteps, inputs, config):
        """x: [B, C, 1, h, w] -> the predicted velocity in the same shape."""
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        b, _, frames, h, w = x.shape
        hidden = cond["prompt_embeds"].to(x.device, dtype)
        mask = cond.get("prompt_mask")
        if mask is not None:
            hidden, mask = trimmed(hidden, mask.to(x.device))
        out = transformer(hidden_states=pack(x).to(dtype), timestep=timesteps.to(dtype),
                          encoder_hidden_states=hidden, encoder_hidden_states_mask=mask,
                          img_shapes=[[(frames, h // 2, w // 2)]] * b, return_dict=False)[0]
        return unpack(out, h, w, single_frame=True)

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training (the negative one, empty or not, enables the
        pipeline's classifier-free guidance)."""
        length = model.extra.get("qwen_text_length", DEFAULT_TEXT_LENGTH)
        dtype = model.dtype_of("transformer")
        kwargs = {"max_sequence_length": length}
        for prefix, prompt in (("", sample_config.prompt), ("negative_", sample_config.negative_prompt or "")):
            encoded = self._encode(model, [prompt], length)
            hidden, _ = trimmed(encoded["prompt_embeds"], encoded["prompt_mask"])
            kwargs[f"{prefix}prompt_embeds"] = hidden.to(dtype)
            # the mask even where it masks nothing: the pipeline warns without one, then leaves it out itself
            kwargs[f"{prefix}prompt_embeds_mask"] = encoded["prompt_mask"][:, :hidden.shape[1]]
        return kwargs

    def sample_kwargs(self, model, sample_config) -> dict:
        return {"true_cfg_scale": float(sample_config.cfg_scale)}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_qwen

        return build_tiny_qwen(out_dir, seed)


FAMILY = QwenFamily
