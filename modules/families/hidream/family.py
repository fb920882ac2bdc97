"""HiDream-I1 Full: a mixture-of-experts transformer on 2×2 latent patches, conditioned on the joined
projected pooled outputs of CLIP-L and CLIP-G, the last T5 hidden state and the hidden states of every
Llama layer (each transformer block reads one of them); flow matching with the transformer reading
σ·1000 and predicting the negated velocity.

The transformer has two routes, chosen by its `training` flag: the training route runs every token
through its chosen experts with gradients and returns patches as [B, C, tokens, p²]; the inference
route (which the pipeline needs) sends the experts' outputs through a no-grad path and returns
[B, C, H, W]. Training runs the training route, as diffusers implements it (the gate's auxiliary
balance loss is computed but not added to the output, there as here), and folds the patches back
into the image layout."""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import diffusers_io, llama, quantization
from ..parts.sources import local_model_path
from .facts import FACTS

# tokens the pipeline reads from each encoder (its `max_sequence_length`; the CLIPs get as many,
# up to 218)
SEQUENCE_LENGTH = 128
CLIP_LENGTH_LIMIT = 218


def image_layout(out: torch.Tensor, height: int, width: int, patch: int) -> torch.Tensor:
    """The training route's patches [B, C, tokens, p²] (tokens padded to the transformer's maximum for
    non-square latents) as latents [B, C, H, W]."""
    b, c = out.shape[:2]
    ph, pw = height // patch, width // patch
    out = out[:, :, : ph * pw].reshape(b, c, ph, pw, patch, patch)
    return out.permute(0, 1, 2, 4, 3, 5).reshape(b, c, height, width)


def _moe_modules(transformer) -> list[torch.nn.Module]:
    from diffusers.models.transformers.transformer_hidream_image import MOEFeedForwardSwiGLU, MoEGate

    return [m for m in transformer.modules() if isinstance(m, (MoEGate, MOEFeedForwardSwiGLU))]


def _route_modules(model) -> list[torch.nn.Module]:
    transformer = model["transformer"]
    modules = model.extra.get("hidream_moe")
    if modules is None or modules[0] is not transformer:
        modules = model.extra["hidream_moe"] = [transformer, *_moe_modules(transformer)]
    return modules


def set_route(model, training: bool) -> list[bool]:
    """Put the transformer on its training or inference route: its own and its experts' `training`
    flags, nothing else (adapter dropout stays as the training method set it). Returns the flags before."""
    modules = _route_modules(model)
    before = [m.training for m in modules]
    for m in modules:
        m.training = training
    return before


@contextmanager
def inference_route(model):
    """The inference route for sampling (the pipeline expects it), the previous route afterwards."""
    before = set_route(model, False)
    try:
        yield
    finally:
        for m, flag in zip(_route_modules(model), before, strict=True):
            m.training = flag


class HiDreamFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    # ---------------------------------------------------------------- loading
    def load(self, source, config, *, config_dir=None):
        from ..base import Model

        path, components = diffusers_io.load_components(source, self.keymap, self.model_type, config,
                                                        config_dir=config_dir)
        override = getattr(getattr(config, "text_encoder_4", None), "model_name", "") if config is not None else ""
        if override and (config.text_encoder_4.include if config is not None else True):
            components.update(self._load_llama(override, config))
        tokenizer_4 = components.get("tokenizer_4")
        if tokenizer_4 is not None:  # as the pipeline does: Llama pads with its end-of-text token
            tokenizer_4.pad_token = tokenizer_4.eos_token
        diffusers_io.freeze(components, (*self.facts.parts, *self.text_encoders), config)
        model = Model(model_type=self.model_type, components=components, source=path)
        self.setup_objective(model, config)
        return model

    @staticmethod
    def _load_llama(name: str, config) -> dict:
        """`text_encoder_4.model_name`: the Llama encoder and its tokenizer from a diffusers folder
        (`text_encoder_4/`, `tokenizer_4/`) or a plain transformers folder / hub name."""
        from transformers import AutoTokenizer, LlamaForCausalLM

        path = local_model_path(name, config)
        sub = "text_encoder_4" if (Path(path) / "text_encoder_4").is_dir() else None
        kwargs = quantization.loading_kwargs(LlamaForCausalLM, path, sub, config, "text_encoder_4")
        encoder = LlamaForCausalLM.from_pretrained(path, **({"subfolder": sub} if sub else {}), **kwargs)
        quantization.complete(encoder, config, "text_encoder_4")
        tok_sub = "tokenizer_4" if (Path(path) / "tokenizer_4").is_dir() else None
        tokenizer = AutoTokenizer.from_pretrained(path, **({"subfolder": tok_sub} if tok_sub else {}))
        return {"text_encoder_4": encoder, "tokenizer_4": tokenizer}

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self._encode(model, texts)

    def _encode(self, model, texts: list[str]) -> dict[str, torch.Tensor]:
        """As the pipeline encodes: projected pooled outputs of both CLIPs, the last T5 hidden state and
        every Llama layer's hidden state (batch-first here: [B, layers, L, D]); a left-out encoder
        contributes zeros of its shape."""
        transformer = model["transformer"].config
        n = len(texts)
        out: dict[str, torch.Tensor] = {}
        clips = {1: model.get("text_encoder"), 2: model.get("text_encoder_2")}
        widths = {i: (e.config.projection_dim if e is not None else None) for i, e in clips.items()}
        total = int(transformer.text_emb_dim)
        widths[1] = widths[1] if widths[1] is not None else total - (widths[2] or 0)
        widths[2] = total - widths[1]
        for index, part in ((1, "text_encoder"), (2, "text_encoder_2")):
            encoder = clips[index]
            if encoder is None:
                out[f"pooled_{index}"] = torch.zeros(n, widths[index])
                continue
            tokens = self.tokenizer_of(model, part)(
                self.expanded(model, texts, part), padding="max_length",
                max_length=min(SEQUENCE_LENGTH, CLIP_LENGTH_LIMIT), truncation=True, return_tensors="pt")
            out[f"pooled_{index}"] = encoder(tokens.input_ids.to(encoder.device)).text_embeds
        device = out["pooled_1"].device

        t5_encoder = model.get("text_encoder_3")
        if t5_encoder is None:
            out["t5"] = torch.zeros(n, SEQUENCE_LENGTH, transformer.caption_channels[0], device=device)
        else:
            tokenizer = self.tokenizer_of(model, "text_encoder_3")
            tokens = tokenizer(self.expanded(model, texts, "text_encoder_3"), padding="max_length",
                               max_length=min(SEQUENCE_LENGTH, tokenizer.model_max_length), truncation=True,
                               add_special_tokens=True, return_tensors="pt")
            out["t5"] = t5_encoder(tokens.input_ids.to(t5_encoder.device),
                                   attention_mask=tokens.attention_mask.to(t5_encoder.device)).last_hidden_state

        llama_encoder = model.get("text_encoder_4")
        if llama_encoder is None:
            layers = max(transformer.llama_layers) + 1
            out["llama"] = torch.zeros(n, layers, SEQUENCE_LENGTH, transformer.caption_channels[1], device=device)
        else:
            tokenizer = self.tokenizer_of(model, "text_encoder_4")
            out["llama"], _ = llama.encode_layers(llama_encoder, tokenizer,
                                                  self.expanded(model, texts, "text_encoder_4"),
                                                  min(SEQUENCE_LENGTH, tokenizer.model_max_length))
        return {k: v.to(device) for k, v in out.items()}

    # ---------------------------------------------------------------- training
    def run_denoiser(self, model, x, timesteps, inputs, config):
        """The negated transformer output: the velocity noise − x₀ the objective compares with."""
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        pooled = torch.cat([cond["pooled_1"], cond["pooled_2"]], dim=-1).to(dtype)
        llama_states = cond["llama"].to(dtype).transpose(0, 1)  # layers first, as the transformer indexes them
        # the route stays set until sampling asks for the other: gradient checkpointing recomputes the
        # blocks during the backward pass, which must take the same route
        set_route(model, True)
        out = transformer(hidden_states=x.to(dtype), timesteps=timesteps.to(dtype),
                              encoder_hidden_states_t5=cond["t5"].to(dtype), encoder_hidden_states_llama3=llama_states,
                          pooled_embeds=pooled, return_dict=False)[0]
        if not transformer.config.force_inference_output:
            out = image_layout(out, x.shape[-2], x.shape[-1], transformer.config.patch_size)
        return -out

    def lora_target_modules(self, model, part):
        """Every linear layer; the Llama encoder's language-model head is never run, so it gets none."""
        names = super().lora_target_modules(model, part)
        return [n for n in names if n != "lm_head"] if part == "text_encoder_4" else names

    # ---------------------------------------------------------------- sampling
    def sample(self, model, sample_config, on_step=None):
        with inference_route(model):
            return super().sample(model, sample_config, on_step)

    def pipeline(self, model, sample_config):
        """The pipeline rescales every size to the area of its default size: that area is set to the
        requested one (a hair above it, so that rounding keeps the requested sides)."""
        pipe = super().pipeline(model, sample_config)
        area = int(sample_config.width) * int(sample_config.height)
        pipe.default_sample_size = math.sqrt(area) * (1 + 1e-9) / pipe.vae_scale_factor
        return pipe

    def prompt_kwargs(self, model, sample_config) -> dict:
        """Prompt and negative prompt encoded as in training, every encoder with its own placeholders."""
        dtype = model.dtype_of("transformer")
        kwargs = {}
        for prefix, text in (("", sample_config.prompt), ("negative_", sample_config.negative_prompt or "")):
            encoded = {k: v.to(dtype) for k, v in self._encode(model, [text]).items()}
            kwargs[f"{prefix}pooled_prompt_embeds"] = torch.cat([encoded["pooled_1"], encoded["pooled_2"]], dim=-1)
            kwargs[f"{prefix}prompt_embeds_t5"] = encoded["t5"]
            kwargs[f"{prefix}prompt_embeds_llama3"] = encoded["llama"].transpose(0, 1)
        return kwargs

    def sample_kwargs(self, model, sample_config):
        return {"max_sequence_length": SEQUENCE_LENGTH}

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_hidream

        return build_tiny_hidream(out_dir, seed)


FAMILY = HiDreamFamily
