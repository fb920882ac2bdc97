"""Sana: a linear-attention transformer on the latents of a deep-compression autoencoder, conditioned on
the last hidden state of Gemma 2 with its padding masked.

Prompts are read as Sana's pipeline reads them: behind the complex human instruction, of whose encoding
the begin token and the last `text_encoder_sequence_length − 1` positions are kept (`parts/gemma.py`);
negative prompts for sampling are read without the instruction. The autoencoder gives a deterministic
latent (no distribution), scaled by its `scaling_factor`. The transformer receives σ·1000 times its
`timestep_scale`, as the pipeline passes the scheduler's timesteps; the shift is the static
`timestep_shift` (Sana has no resolution-dependent shift)."""
from __future__ import annotations

import torch

from ..base import Model
from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import gemma
from .facts import FACTS

DEFAULT_LENGTH = 300  # the pipeline's max_sequence_length


class SanaFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry the length
        model.extra["sana_text_length"] = self._length(config)

    @staticmethod
    def _length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_LENGTH

    def warnings(self, config) -> list[tuple[str, str]]:
        if (str(config.training_method) == "LORA" and str(config.output_model_format) == "COMFY_LORA"
                and config.text_encoder.train):
            return [("text_encoder.train", "ComfyUI has no name for Sana's Gemma text encoder: a Comfy LoRA file "
                                           "holds the transformer only, saving its adapters will be refused")]
        return []

    # ---------------------------------------------------------------- latents
    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        with torch.no_grad():
            latent = vae.encode(pixels.to(vae.device, vae.dtype)).latent
        return latent * vae.config.scaling_factor

    def decode_for_vae_training(self, model: Model, latents: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        return vae.decode(latents / vae.config.scaling_factor).sample

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, self.expanded(model, texts, "text_encoder"), self._length(config))

    def _encode(self, model, texts: list[str], length: int, instruction=gemma.COMPLEX_HUMAN_INSTRUCTION
                ) -> dict[str, torch.Tensor]:
        hidden, mask = gemma.encode(model["text_encoder"], self.tokenizer_of(model, "text_encoder"), texts, length,
                                    instruction)
        return {"prompt_embeds": hidden, "prompt_mask": mask}

    # ---------------------------------------------------------------- training
    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        hidden = cond["prompt_embeds"].to(x.device, dtype)
        mask = cond.get("prompt_mask")
        mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=x.device) if mask is None else mask.to(x.device)
        timestep = timesteps.to(x.device, dtype) * float(transformer.config.timestep_scale)
        out = transformer(x.to(dtype), encoder_hidden_states=hidden, encoder_attention_mask=mask, timestep=timestep,
                          return_dict=False)[0]
        if out.shape[1] == 2 * x.shape[1]:  # a learned-variance head: the first half is the velocity
            out = out[:, : x.shape[1]]
        return out

    def lora_target_modules(self, model, part: str) -> list[str]:
        """Every Linear/Conv2d module but the depthwise convolutions of the transformer's feed-forward
        (`ff.conv_depth`, one group per channel), which a low-rank adapter cannot factor."""
        module = model[part]
        return [name for name in super().lora_target_modules(model, part)
                if getattr(module.get_submodule(name), "groups", 1) == 1]

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt (behind the instruction) and negative prompt (without it) encoded as in training, so
        that trained embeddings take part."""
        length = model.extra.get("sana_text_length", DEFAULT_LENGTH)
        dtype = model.dtype_of("transformer")
        kwargs: dict = {"negative_prompt": None}  # the pipeline's default "" would clash with the embeddings
        for prefix, prompt, instruction in (("", sample_config.prompt, gemma.COMPLEX_HUMAN_INSTRUCTION),
                                            ("negative_", sample_config.negative_prompt or "", None)):
            encoded = self._encode(model, self.expanded(model, [prompt], "text_encoder"), length, instruction)
            kwargs[f"{prefix}prompt_embeds"] = encoded["prompt_embeds"].to(dtype)
            kwargs[f"{prefix}prompt_attention_mask"] = encoded["prompt_mask"]
        return kwargs

    def sample_kwargs(self, model, sample_config) -> dict:
        return {"use_resolution_binning": False, "max_sequence_length": model.extra.get("sana_text_length",
                                                                                        DEFAULT_LENGTH)}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_sana

        return build_tiny_sana(out_dir, seed)


FAMILY = SanaFamily
