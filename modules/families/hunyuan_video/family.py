"""HunyuanVideo: a flow-matching video transformer on [B, C, F, H, W] latents of a causal 3-D autoencoder
(a still image is a one-frame clip), conditioned on Llama hidden states read through the model's prompt
template, the pooled output of CLIP-L, and distilled guidance (×1000) as an input.

The prompt template wraps every caption in a system prompt; the template's tokens before the caption
are cropped from the Llama states. How many that is depends on the tokenizer, so it is counted with
the model's own tokenizer (95 for the released one)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..diffusers_family import DiffusersFamily
from ..flow import FlowMatchingObjective
from ..parts import clip, diffusers_io, llama, quantization
from ..parts.sources import local_model_path
from .facts import FACTS

TEXT_LENGTH = 256  # caption tokens after the template (the pipeline's `max_sequence_length`)
CLIP_LENGTH = 77
LLAMA_LAYER = -3  # the hidden state two layers before the last, as the released model reads it
FRAMES_PER_LATENT = 4  # the autoencoder's temporal compression: clips hold 4k + 1 frames


def prompt_template() -> str:
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    return DEFAULT_PROMPT_TEMPLATE["template"]


def template_crop(tokenizer, template: str) -> int:
    """Tokens of the template before the caption (the begin-of-text token included)."""
    prefix = template.split("{}", 1)[0]
    return len(tokenizer(prefix, add_special_tokens=True).input_ids)


def clip_frames(frames: int) -> int:
    """The largest 4k + 1 frame count not above `frames` (at least one frame)."""
    return (max(int(frames), 1) - 1) // FRAMES_PER_LATENT * FRAMES_PER_LATENT + 1


def latent_frames(clip: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] per pixel frame → per latent frame, as the causal autoencoder groups them: the
    first frame alone, then each run of four averaged."""
    first, rest = clip[:, :, :1], clip[:, :, 1:]
    groups = rest.shape[2] // FRAMES_PER_LATENT
    rest = rest[:, :, : groups * FRAMES_PER_LATENT].unflatten(2, (groups, FRAMES_PER_LATENT)).mean(dim=3)
    return torch.cat([first, rest], dim=2)


class HunyuanVideoFamily(FlowMatchingObjective, DiffusersFamily):
    facts = FACTS

    # ---------------------------------------------------------------- loading
    def load(self, source, config, *, config_dir=None):
        from ..base import Model

        path, components = diffusers_io.load_components(source, self.keymap, self.model_type, config,
                                                        config_dir=config_dir)
        override = getattr(getattr(config, "text_encoder", None), "model_name", "") if config is not None else ""
        if override:
            components.update(self._load_llama(override, config))
        diffusers_io.freeze(components, (*self.facts.parts, *self.text_encoders), config)
        model = Model(model_type=self.model_type, components=components, source=path)
        self.setup_objective(model, config)
        return model

    @staticmethod
    def _load_llama(name: str, config) -> dict:
        """`text_encoder.model_name`: the Llama encoder and its tokenizer from a diffusers folder
        (`text_encoder/`, `tokenizer/`) or a plain transformers folder / hub name (a causal LM's
        language-model head is left out)."""
        from transformers import AutoTokenizer, LlamaModel

        path = local_model_path(name, config)
        sub = "text_encoder" if (Path(path) / "text_encoder").is_dir() else None
        kwargs = quantization.loading_kwargs(LlamaModel, path, sub, config, "text_encoder")
        encoder = LlamaModel.from_pretrained(path, **({"subfolder": sub} if sub else {}), **kwargs)
        quantization.complete(encoder, config, "text_encoder")
        tok_sub = "tokenizer" if (Path(path) / "tokenizer").is_dir() else None
        tokenizer = AutoTokenizer.from_pretrained(path, **({"subfolder": tok_sub} if tok_sub else {}))
        return {"text_encoder": encoder, "tokenizer": tokenizer}

    # ---------------------------------------------------------------- video
    def frame_count(self, available: int, target: int) -> int:
        return clip_frames(min(int(available), int(target)))

    def encode_images(self, model, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels [B, 3, F, H, W] (or one frame [B, 3, H, W]) in [-1, 1] → scaled posterior means
        [B, C, (F − 1)/4 + 1, H/8, W/8]."""
        if pixels.ndim == 4:
            pixels = pixels.unsqueeze(2)
        vae = model["vae"]
        with torch.no_grad():
            mean = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
        return mean * vae.config.scaling_factor

    def decode_for_vae_training(self, model, latents: torch.Tensor) -> torch.Tensor:
        vae = model["vae"]
        return vae.decode(latents / vae.config.scaling_factor).sample

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        """Loss masks at pixel size: an image mask [B, 1, H, W] holds for every latent frame, a clip's
        mask [B, 1, F, H, W] is resized in time too."""
        inputs = super().prepare_inputs(model, latents, pixels, None, conditioning, config, batch)
        if masks is not None:
            if masks.ndim == 5:
                masks = latent_frames(masks.float())
            inputs.masks = F.interpolate(masks.float().flatten(1, -3), size=latents.shape[-2:], mode="nearest")
            inputs.masks = inputs.masks.view(*masks.shape[:-2], *latents.shape[-2:])
        return inputs

    # ---------------------------------------------------------------- text
    def _crop(self, model) -> int:
        tokenizer = self.tokenizer_of(model, "text_encoder")
        cached = model.extra.get("hunyuan_crop")
        if cached is None or cached[0] is not tokenizer or cached[1] != len(tokenizer):
            cached = model.extra["hunyuan_crop"] = (tokenizer, len(tokenizer), template_crop(tokenizer, prompt_template()))
        return cached[2]

    def encode_prompts(self, model, texts, config):
        """As the pipeline encodes: the captions in the template through Llama, the hidden state of
        `LLAMA_LAYER` without the template's tokens, with its attention mask; CLIP-L's pooled output."""
        tokenizer = self.tokenizer_of(model, "text_encoder")
        crop = self._crop(model)
        template = prompt_template()
        wrapped = [template.format(t) for t in self.expanded(model, texts, "text_encoder")]
        ids, mask = llama.tokenize(tokenizer, wrapped, crop + TEXT_LENGTH)
        states = llama.all_hidden_states(model["text_encoder"], ids, mask)[LLAMA_LAYER]
        encoder_2 = model["text_encoder_2"]
        ids_2 = clip.tokenize(self.tokenizer_of(model, "text_encoder_2"), self.expanded(model, texts, "text_encoder_2"),
                              CLIP_LENGTH)
        pooled = encoder_2(ids_2.to(encoder_2.device)).pooler_output
        device = pooled.device
        return {"llama": states[:, crop:].to(device), "llama_mask": mask[:, crop:].to(device), "pooled": pooled}

    @staticmethod
    def text_mask(mask: torch.Tensor, use_mask: bool) -> torch.Tensor:
        """What the transformer attends to of the caption: its tokens (`transformer.attention_mask`, as
        the pipeline does), or every position, padding included."""
        return mask if use_mask else torch.ones_like(mask)

    # ---------------------------------------------------------------- training
    def run_denoiser(self, model, x, timesteps, inputs, config):
        transformer = model["transformer"]
        dtype = model.dtype_of("transformer")
        cond = inputs.conditioning
        mask = self.text_mask(cond["llama_mask"], bool(config.transformer.attention_mask))
        guidance = None
        if transformer.config.guidance_embeds:  # the pipeline feeds the guidance scale ×1000
            guidance = torch.full((x.shape[0],), float(config.transformer.guidance_scale) * 1000.0,
                                  device=x.device, dtype=dtype)
        return transformer(hidden_states=x.to(dtype), timestep=timesteps.to(dtype),
                           encoder_hidden_states=cond["llama"].to(dtype),
                           encoder_attention_mask=mask.to(x.device, dtype),
                           pooled_projections=cond["pooled"].to(dtype), guidance=guidance, return_dict=False)[0]

    # ---------------------------------------------------------------- sampling
    def prompt_kwargs(self, model, sample_config) -> dict:
        """The prompt encoded as in training, its mask as training uses it (the sample's cfg scale is the
        distilled guidance)."""
        dtype = model.dtype_of("transformer")
        encoded = self.encode_prompts(model, [sample_config.prompt], None)
        mask = self.text_mask(encoded["llama_mask"], bool(getattr(sample_config, "transformer_attention_mask", True)))
        return {"prompt_embeds": encoded["llama"].to(dtype), "prompt_attention_mask": mask,
                "pooled_prompt_embeds": encoded["pooled"].to(dtype)}

    def sample_kwargs(self, model, sample_config) -> dict:
        return {"num_frames": clip_frames(getattr(sample_config, "frames", 1) or 1), "output_type": "pil"}

    def rendered(self, result):
        """The frames of the clip, as PIL images."""
        return list(result.frames[0])

    def build_tiny(self, out_dir, seed: int = 0):
        from .tiny import build_tiny_hunyuan_video

        return build_tiny_hunyuan_video(out_dir, seed)


FAMILY = HunyuanVideoFamily
