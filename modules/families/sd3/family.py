"""Stable Diffusion 3 and 3.5: an MMDiT transformer conditioned on CLIP-L, CLIP-G and T5 (optional)."""
from __future__ import annotations

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import clip, t5
from .facts import FACTS

# T5 tokens per prompt: what SD3 was trained with, in training and in sampling alike
T5_SEQUENCE_LENGTH = 77


class StableDiffusion3Family(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def load(self, source, config, *, config_dir=None):
        model = super().load(source, config, config_dir=config_dir)
        t5_encoder = model.get("text_encoder_3")
        if t5_encoder is not None and t5_encoder.encoder.embed_tokens is not t5_encoder.shared:
            # a single file holds the token table once (`shared`); diffusers leaves its tied copy unset
            t5_encoder.set_input_embeddings(t5_encoder.shared)
        return model

    def encode_prompts(self, model, texts, config):
        """As the SD3 pipeline encodes: penultimate hidden states and projected pooled outputs of both
        CLIPs, the last T5 hidden state (zeros without T5). The transformer input is joined from these
        in `run_denoiser`, so caption dropout can zero each encoder's share on its own."""
        out = {}
        skips = {"text_encoder": int(getattr(config, "text_encoder_layer_skip", 0) or 0),
                 "text_encoder_2": int(getattr(config, "text_encoder_2_layer_skip", 0) or 0)}
        for index, part in ((1, "text_encoder"), (2, "text_encoder_2")):
            encoder = model[part]
            ids = clip.tokenize(self.tokenizer_of(model, part), self.expanded(model, texts, part))
            result = encoder(ids.to(encoder.device), output_hidden_states=True)
            out[f"hidden_{index}"] = result.hidden_states[-(2 + skips[part])]
            out[f"pooled_{index}"] = result.text_embeds
        encoder = model.get("text_encoder_3")
        if encoder is None:  # left out: zeros, as the pipeline conditions without T5
            width = model["transformer"].config.joint_attention_dim
            out["hidden_3"] = out["hidden_1"].new_zeros(len(texts), T5_SEQUENCE_LENGTH, width)
        else:
            texts_3 = self.expanded(model, texts, "text_encoder_3")
            out["hidden_3"], _ = t5.encode(encoder, model["tokenizer_3"], texts_3, T5_SEQUENCE_LENGTH)
        return out

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        t5_hidden = cond["hidden_3"].to(dtype)
        clip_hidden = torch.cat([cond["hidden_1"].to(dtype), cond["hidden_2"].to(dtype)], dim=-1)
        clip_hidden = torch.nn.functional.pad(clip_hidden, (0, t5_hidden.shape[-1] - clip_hidden.shape[-1]))
        context = torch.cat([clip_hidden, t5_hidden], dim=-2)
        pooled = torch.cat([cond["pooled_1"].to(dtype), cond["pooled_2"].to(dtype)], dim=-1)
        return transformer(hidden_states=x.to(dtype), timestep=timesteps.to(dtype), encoder_hidden_states=context,
                           pooled_projections=pooled).sample

    def prompt_kwargs(self, model, sample_config) -> dict:
        """Each text encoder reads the prompt with its own embedding placeholders."""
        kwargs = super().prompt_kwargs(model, sample_config)
        for index, part in ((2, "text_encoder_2"), (3, "text_encoder_3")):
            kwargs[f"prompt_{index}"] = self.expanded(model, [sample_config.prompt], part)[0]
            negative = self.expanded(model, [sample_config.negative_prompt or ""], part)[0]
            kwargs[f"negative_prompt_{index}"] = negative or None
        return kwargs

    def sample_kwargs(self, model, sample_config):
        return {"clip_skip": int(sample_config.text_encoder_1_layer_skip) or None,
                "max_sequence_length": T5_SEQUENCE_LENGTH}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_sd3

        return build_tiny_sd3(self.model_type, out_dir, seed)


FAMILY = StableDiffusion3Family
