"""Chroma1: a Flux-style transformer on packed 2×2 latent patches with image/text position ids,
conditioned on T5 alone. The T5 encoder reads the prompt with its padding masked; the transformer
sees the prompt tokens and the first padding token, as Chroma was trained. No pooled or guidance
input: the transformer's approximator makes the modulation from the timestep alone."""
from __future__ import annotations

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts.patches import image_ids, pack, text_ids, unpack
from .facts import FACTS

DEFAULT_T5_LENGTH = 512  # Chroma's T5 length (and the longest the pipeline accepts)


def transformer_mask(text_mask: torch.Tensor, image_tokens: int) -> torch.Tensor:
    """[B, text + image] boolean attention mask: the kept text tokens, then every image token."""
    text = text_mask.bool()
    return torch.cat([text, text.new_ones(text.shape[0], image_tokens)], dim=1)


class ChromaFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry these
        model.extra["chroma_text"] = {"length": self._t5_length(config), "skip": self._layer_skip(config)}

    @staticmethod
    def _t5_length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return min(int(length), DEFAULT_T5_LENGTH) if length else DEFAULT_T5_LENGTH

    @staticmethod
    def _layer_skip(config) -> int:
        return int(getattr(config, "text_encoder_layer_skip", 0) or 0)

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts, self._t5_length(config), self._layer_skip(config))

    def _encode(self, model, texts: list[str], length: int, skip: int = 0) -> dict[str, torch.Tensor]:
        """{"t5": hidden states [B, L, D], "t5_mask": [B, L], 1 for the tokens the transformer sees}."""
        encoder = model["text_encoder"]
        tokens = self.tokenizer_of(model, "text_encoder")(
            self.expanded(model, texts, "text_encoder"), padding="max_length", max_length=length, truncation=True,
            return_tensors="pt")
        mask = tokens.attention_mask.to(encoder.device)
        out = encoder(tokens.input_ids.to(encoder.device), attention_mask=mask, output_hidden_states=skip > 0)
        hidden = out.last_hidden_state if skip == 0 else out.hidden_states[-(1 + skip)]
        # the prompt's tokens and the first padding token after them
        positions = torch.arange(length, device=mask.device)[None, :]
        keep = (positions <= mask.sum(dim=1, keepdim=True)).long()
        return {"t5": hidden, "t5_mask": keep}

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return timesteps / 1000  # the transformer multiplies by 1000 itself

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        b, _, h, w = x.shape
        hidden = cond["t5"].to(x.device, dtype)
        if "t5_mask" in cond:
            text_mask = cond["t5_mask"].to(x.device)
        else:
            text_mask = torch.ones(b, hidden.shape[1], dtype=torch.long, device=x.device)
        out = transformer(hidden_states=pack(x).to(dtype), timestep=timesteps.to(dtype), encoder_hidden_states=hidden,
                          txt_ids=text_ids(hidden.shape[1], x.device, dtype),
                          img_ids=image_ids(h, w, x.device, dtype),
                          attention_mask=transformer_mask(text_mask, (h // 2) * (w // 2)), return_dict=False)[0]
        return unpack(out, h, w)

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training, with boolean masks (the transformer masks
        with them; the pipeline's own float masks would only be added to the attention scores)."""
        text = model.extra.get("chroma_text", {"length": DEFAULT_T5_LENGTH, "skip": 0})
        dtype = model.dtype_of("transformer")
        kwargs = {"max_sequence_length": text["length"]}
        for prefix, prompt in (("", sample_config.prompt), ("negative_", sample_config.negative_prompt or "")):
            encoded = self._encode(model, [prompt], text["length"], text["skip"])
            kwargs[f"{prefix}prompt_embeds"] = encoded["t5"].to(dtype)
            kwargs[f"{prefix}prompt_attention_mask"] = encoded["t5_mask"].bool()
        return kwargs

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_chroma

        return build_tiny_chroma(out_dir, seed)


FAMILY = ChromaFamily
