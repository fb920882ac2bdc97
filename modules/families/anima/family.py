"""Anima: a Cosmos Predict2 transformer on single-frame Qwen-Image latents, conditioned through the
Anima text conditioner.

Captions are tokenized twice: by the Qwen3 tokenizer, whose encoder's last hidden state (padding
zeroed) is the conditioner's source, and by the T5 tokenizer, whose ids the conditioner embeds as its
queries; the conditioner's output (at least 512 tokens, padding zeroed) is the transformer's text
input. Neither the text encoder nor the conditioner trains: the conditioner belongs to the released
transformer checkpoint (its `llm_adapter`) and is written with it, but only the transformer gets
adapters or fine-tuning. The transformer reads σ as its timestep, an all-zero padding mask beside the
latents, and predicts the velocity noise − x₀. Latents are [B, C, 1, H, W], normalised per channel
with the VAE's `latents_mean` / `latents_std`. Sampling runs the Anima modular pipeline."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import qwen_image_vae
from . import cosmos
from .facts import FACTS

DEFAULT_LENGTH = 512  # the pipeline's max_sequence_length
BLOCKS = "AnimaAutoBlocks"


class AnimaFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    def load(self, source, config, *, config_dir=None):
        cosmos.ensure_resize()
        model = super().load(source, config, config_dir=config_dir)
        conditioner = model.get("text_conditioner")
        if conditioner is not None:  # frozen like the rest, in the transformer's float dtype
            conditioner.requires_grad_(False).eval()
            transformer_dtype = model.dtype_of("transformer")
            if transformer_dtype.is_floating_point and transformer_dtype.itemsize >= 2:
                conditioner.to(dtype=transformer_dtype)
        return model

    def setup_objective(self, model, config) -> None:
        super().setup_objective(model, config)
        # sampling encodes prompts as training does; the sample settings do not carry the length
        model.extra["anima_text_length"] = self._length(config)

    @staticmethod
    def _length(config) -> int:
        length = getattr(config, "text_encoder_sequence_length", None)
        return int(length) if length else DEFAULT_LENGTH

    def lora_target_modules(self, model, part):
        """Adapters go on the transformer only: Anima's text encoder is never trained."""
        return [] if part in self.text_encoders else super().lora_target_modules(model, part)

    def warnings(self, config) -> list[tuple[str, str]]:
        if config.text_encoder.train:
            return [("text_encoder.train", "Anima never trains its text encoder; only the transformer trains")]
        return []

    # ---------------------------------------------------------------- images
    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        return qwen_image_vae.encode(model["vae"], pixels)

    def decode_for_vae_training(self, model, latents: torch.Tensor) -> torch.Tensor:
        return qwen_image_vae.decode(model["vae"], latents)

    # ---------------------------------------------------------------- text
    def encode_prompts(self, model, texts, config):
        return self.encode(model, texts, self._length(config))

    @torch.no_grad()
    def encode(self, model, texts: list[str], length: int = DEFAULT_LENGTH) -> dict[str, torch.Tensor]:
        """{"prompt_embeds": the conditioner's output [B, max(length, 512), D]}."""
        texts = self.expanded(model, texts, "text_encoder")
        encoder = model["text_encoder"]
        device = next(encoder.parameters()).device
        qwen = self.tokenizer_of(model, "text_encoder")(texts, padding="max_length", max_length=length,
                                                         truncation=True, return_tensors="pt")
        qwen_mask = qwen.attention_mask.to(device)
        hidden = encoder(input_ids=qwen.input_ids.to(device), attention_mask=qwen_mask).last_hidden_state
        hidden = hidden * qwen_mask.unsqueeze(-1).to(hidden.dtype)
        t5 = model["t5_tokenizer"](texts, padding="max_length", max_length=length, truncation=True,
                                   return_tensors="pt")
        conditioner = model["text_conditioner"]
        cdevice = next(conditioner.parameters()).device
        embeds = conditioner(source_hidden_states=hidden.to(cdevice, conditioner.dtype),
                             target_input_ids=t5.input_ids.to(cdevice),
                             target_attention_mask=t5.attention_mask.to(cdevice),
                             source_attention_mask=qwen_mask.to(cdevice))
        return {"prompt_embeds": embeds}

    # ---------------------------------------------------------------- training
    def model_timesteps(self, sigma, timesteps):
        return sigma  # the pipeline passes t / num_train_timesteps

    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        if not dtype.is_floating_point or dtype.itemsize < 2:  # quantized: layers run in the train dtype
            dtype = x.dtype
        padding_mask = x.new_zeros(1, 1, x.shape[-2], x.shape[-1], dtype=dtype)
        embeds = inputs.conditioning["prompt_embeds"].to(x.device, dtype)
        return transformer(hidden_states=x.to(dtype), timestep=timesteps.to(dtype), encoder_hidden_states=embeds,
                           padding_mask=padding_mask, return_dict=False)[0]

    # ---------------------------------------------------------------- sampling
    def pipeline(self, model, sample_config):
        import diffusers
        from diffusers import ClassifierFreeGuidance

        cosmos.ensure_resize()
        pipe = getattr(diffusers, BLOCKS)().init_pipeline()
        parts = {k: v for k, v in model.components.items() if k in pipe.component_names and k != "scheduler"}
        pipe.update_components(**parts, scheduler=self.sampling_scheduler(model, sample_config),
                               guider=ClassifierFreeGuidance(guidance_scale=float(sample_config.cfg_scale)))
        return pipe

    @torch.no_grad()
    def sample(self, model, sample_config, on_step=None):
        import copy

        pipe = self.pipeline(model, sample_config)
        pipe.set_progress_bar_config(disable=True)
        seed = int(sample_config.seed)
        if sample_config.random_seed:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        steps = int(sample_config.diffusion_steps)
        scheduler = copy.deepcopy(pipe.scheduler)
        step, done = scheduler.step, [0]

        def counted(*args, **kwargs):
            out = step(*args, **kwargs)
            done[0] += 1
            if on_step is not None:
                on_step(done[0], steps)
            return out

        scheduler.step = counted
        pipe.update_components(scheduler=scheduler)
        kwargs = self.prompt_kwargs(model, sample_config)
        images = pipe(**kwargs, max_sequence_length=model.extra.get("anima_text_length", DEFAULT_LENGTH),
                      num_inference_steps=steps, **self.size_kwargs(sample_config),
                      generator=torch.Generator(device="cpu").manual_seed(seed), output="images")
        return images[0]

    def prompt_kwargs(self, model, sample_config) -> dict:
        kwargs = super().prompt_kwargs(model, sample_config)
        kwargs["negative_prompt"] = kwargs["negative_prompt"] or ""
        return kwargs

    # ---------------------------------------------------------------- saving
    def save_diffusers(self, model, path, dtype=None) -> None:
        """The folder of `save_folder` plus the modular pipeline's index, which names its blocks."""
        super().save_diffusers(model, path, dtype)
        write_modular_index(path)

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_anima

        return build_tiny_anima(out_dir, seed)


def write_modular_index(path) -> None:
    """`modular_model_index.json` beside `model_index.json`: the modular pipeline class, its blocks and
    every component loaded from this folder (so `ModularPipeline.from_pretrained` loads it)."""
    path = Path(path)
    index = json.loads((path / "model_index.json").read_text())
    modular = {"_blocks_class_name": BLOCKS, **{k: v for k, v in index.items() if k.startswith("_")}}
    for name, spec in index.items():
        if name.startswith("_"):
            continue
        modular[name] = [spec[0], spec[1], {"pretrained_model_name_or_path": None, "revision": None,
                                            "subfolder": name, "type_hint": list(spec), "variant": None}]
    (path / "modular_model_index.json").write_text(json.dumps(modular, indent=2))


FAMILY = AnimaFamily
