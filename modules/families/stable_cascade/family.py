"""Stable Cascade: the prior (stage C) reads the CLIP encoder's last hidden state, its pooled projected
embedding as one token (B, 1, D) and an image embedding, which text-to-image training leaves at zeros
(B, 1, 768); it is trained at `clamp(t + 0.001, 0.001, 1)` of the sampled ratio t (spec §9.2), on the
effnet latents as they are. The decoder pipeline reads the same text encoder."""
from __future__ import annotations

import torch

from ..parts.stage_c import StageCFamily
from .facts import FACTS


class StableCascadeFamily(StageCFamily):
    facts = FACTS
    prior_pipeline_class = "StableCascadePriorPipeline"
    decoder_pipeline_class = "StableCascadeDecoderPipeline"
    combined_pipeline_class = "StableCascadeCombinedPipeline"
    decoder_default_steps = 10
    shares_text_encoder = True

    def timestep_ratio(self, ratio):
        return (ratio + 0.001).clamp(0.001, 1.0)

    def warnings(self, config) -> list[tuple[str, str]]:
        from modules.config.enums import ModelFormat, TrainingMethod

        if (TrainingMethod(config.training_method) == TrainingMethod.FINE_TUNE and config.text_encoder.train
                and ModelFormat(config.output_model_format) == ModelFormat.LEGACY_SAFETENSORS):
            return [("text_encoder.train", "the LEGACY_SAFETENSORS file holds the prior only: the trained text "
                                           "encoder is not saved in it (DIFFUSERS keeps it)")]
        return []

    def prior_state_from_file(self, state):
        """A prior file in the original layout (packed `attention.attn.in_proj_*`, as LEGACY_SAFETENSORS
        writes it and the released stage C files are) or in diffusers names."""
        from .keymap import prior_from_original

        return prior_from_original(state) if any(".attention.attn." in k for k in state) else state

    def prior_pipeline_extras(self) -> dict:
        return {"feature_extractor": None, "image_encoder": None}

    def decoder_prompt_kwargs(self, pipe, prompt: str) -> dict:
        """The shared text encoder's embeddings, in the decoder's dtype (they may differ: the presets
        keep the text encoder in bfloat16 and the decoder in float16)."""
        dtype = next(pipe.decoder.parameters()).dtype
        embeds, pooled, _, _ = pipe.encode_prompt(pipe.text_encoder.device, 1, 1, False, prompt=prompt)
        return {"prompt_embeds": embeds.to(dtype), "prompt_embeds_pooled": pooled.to(dtype)}

    def encode_prompts(self, model, texts, config):
        """Last hidden state and pooled projection of the padded captions, read with their attention
        mask (as the prior pipeline reads them)."""
        encoder, tokenizer = model["text_encoder"], self.tokenizer_of(model, "text_encoder")
        tokens = tokenizer(self.expanded(model, texts, "text_encoder"), padding="max_length",
                           max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
        out = encoder(tokens.input_ids.to(encoder.device), attention_mask=tokens.attention_mask.to(encoder.device),
                      output_hidden_states=True)
        return {"clip_text": out.hidden_states[-1], "clip_text_pooled": out.text_embeds.unsqueeze(1)}

    def run_prior(self, model, x, ratio, inputs):
        prior = model["prior"]
        dtype = model.dtype_of("prior")
        cond = inputs.conditioning
        image = torch.zeros(x.shape[0], 1, prior.config.clip_image_in_channels, device=x.device, dtype=dtype)
        return prior(sample=x.to(dtype), timestep_ratio=ratio.to(x.device, dtype),
                     clip_text_pooled=cond["clip_text_pooled"].to(x.device, dtype),
                     clip_text=cond["clip_text"].to(x.device, dtype), clip_img=image).sample

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_stable_cascade

        return build_tiny_stable_cascade(out_dir, seed)


FAMILY = StableCascadeFamily
