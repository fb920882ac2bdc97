"""Würstchen v2: the prior reads the CLIP encoder's last hidden state (`c`) and the timestep ratio
(`r`); it is trained at `clamp(1.08·t + 0.001, 0.001, 1)` of the sampled ratio t (spec §9.2), on the
effnet latents normalised as the prior pipeline expects them: (latents + 1) / 42 (the pipeline
returns `x·42 − 1` to the decoder)."""
from __future__ import annotations

from ..parts.stage_c import StageCFamily
from .facts import FACTS

LATENT_MEAN, LATENT_STD = 42.0, 1.0  # WuerstchenPriorPipeline's defaults


class WuerstchenFamily(StageCFamily):
    facts = FACTS
    prior_pipeline_class = "WuerstchenPriorPipeline"
    decoder_pipeline_class = "WuerstchenDecoderPipeline"
    combined_pipeline_class = "WuerstchenCombinedPipeline"
    decoder_default_steps = 12

    def timestep_ratio(self, ratio):
        return (1.08 * ratio + 0.001).clamp(0.001, 1.0)

    def to_prior_space(self, latents):
        return (latents + LATENT_STD) / LATENT_MEAN

    def encode_prompts(self, model, texts, config):
        """The last hidden state of the padded captions, read with their attention mask (as the prior
        pipeline reads them)."""
        encoder, tokenizer = model["text_encoder"], self.tokenizer_of(model, "text_encoder")
        tokens = tokenizer(self.expanded(model, texts, "text_encoder"), padding="max_length",
                           max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
        out = encoder(tokens.input_ids.to(encoder.device), attention_mask=tokens.attention_mask.to(encoder.device))
        return {"clip_text": out.last_hidden_state}

    def run_prior(self, model, x, ratio, inputs):
        prior = model["prior"]
        dtype = model.dtype_of("prior")
        return prior(x.to(dtype), r=ratio.to(x.device, dtype), c=inputs.conditioning["clip_text"].to(x.device, dtype))

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_wuerstchen

        return build_tiny_wuerstchen(out_dir, seed)


FAMILY = WuerstchenFamily
