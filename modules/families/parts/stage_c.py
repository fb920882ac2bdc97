"""Behaviour shared by the two-stage Würstchen models (Würstchen v2, Stable Cascade): a text-conditioned
prior ("stage C") that denoises EfficientNet image latents in continuous time, and a decoder stage
(decoder + Paella VQGAN, "stages B and A") that turns those latents into pixels.

Only the prior trains. Its training latents are the effnet encoder's output (`parts/effnet.py`),
cached like any other latents; sampling runs the prior pipeline, then the decoder pipeline.

Folders. A model is read from either

* the combined layout that diffusers writes for `WuerstchenCombinedPipeline` /
  `StableCascadeCombinedPipeline` (`prior_prior/`, `prior_text_encoder/`, `prior_tokenizer/`,
  `prior_scheduler/` + `decoder/`, `text_encoder/`, `tokenizer/`, `vqgan/`, `scheduler/`), plus our
  `effnet_encoder/` folder (config.json + weights, the published key names). The tiny test models and
  every saved fine-tune are this layout; or
* a prior pipeline folder (the released `…-prior` repositories: `prior/`, `text_encoder/`, `tokenizer/`,
  `scheduler/`) with the decoder pipeline folder named by `decoder.model_name` and the encoder by
  `effnet_encoder.model_name` (a folder or one weights file).

`decoder.model_name` and `effnet_encoder.model_name` override the base folder's; `prior.model_name`
replaces the prior alone. The decoder stage loads on first use (sampling, saving), not for training.

diffusers 0.42 moved the Würstchen classes (`WuerstchenPrior`, `WuerstchenDiffNeXt`, `PaellaVQModel`) to
`diffusers.pipelines.deprecated.wuerstchen`. Its `DiffusionPipeline.from_pretrained` resolves neither the
library the released folders record for them (`["wuerstchen", "PaellaVQModel"]`: `diffusers.pipelines` has
no `wuerstchen` any more) nor the one its own `save_pretrained` now writes (`["diffusers", "PaellaVQModel"]`:
`diffusers` has no such attribute). A library that names the class's module is resolved from
`sys.modules`, where importing the pipeline class put it, so the folders written here record that module
(`record_moved_classes`) and load with `DiffusionPipeline.from_pretrained`. Reading, components are
taken one by one with their own class's `from_pretrained(folder, subfolder=...)`, whichever library the
index names, so the released folders load as well (`load_pipeline` builds a pipeline that way).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from modules.objectives import Prediction, sample_noise

from ..base import Inputs, Model
from ..diffusers_family import DiffusersFamily
from . import diffusers_io, effnet, quantization
from .sources import is_local, local_model_path, offline

T = 10000  # discrete training timesteps before they become the continuous ratio (spec §9.2)
COSINE_S = 0.008

# model part -> sub-folder of each layout
PRIOR_COMBINED = {"prior": "prior_prior", "text_encoder": "prior_text_encoder", "tokenizer": "prior_tokenizer",
                  "scheduler": "prior_scheduler"}
PRIOR_ONLY = {"prior": "prior", "text_encoder": "text_encoder", "tokenizer": "tokenizer", "scheduler": "scheduler"}
DECODER = {"decoder": "decoder", "decoder_text_encoder": "text_encoder", "decoder_tokenizer": "tokenizer",
           "decoder_vqgan": "vqgan", "decoder_scheduler": "scheduler"}
EFFNET_FOLDER = "effnet_encoder"
DECODER_PARTS = tuple(DECODER)


def component_class(library: str, name: str):
    """The class a `model_index.json` entry names, wherever this diffusers version keeps it."""
    import diffusers
    import transformers
    from diffusers.pipelines.deprecated import wuerstchen

    for module in ((transformers,) if library == "transformers" else (diffusers, wuerstchen, transformers)):
        cls = getattr(module, name, None)
        if cls is not None:
            return cls
    raise ValueError(f"unknown component class {library}.{name}")


MOVED_CLASSES = ("WuerstchenPrior", "WuerstchenDiffNeXt", "PaellaVQModel")


def record_moved_classes(folder: str | Path) -> None:
    """Name the module of each moved Würstchen class as its library in the folder's `model_index.json`
    (see the module docstring), so that `DiffusionPipeline.from_pretrained` loads the folder."""
    from diffusers.pipelines.deprecated import wuerstchen

    index_file = Path(folder) / "model_index.json"
    index = json.loads(index_file.read_text())
    for name, spec in index.items():
        if isinstance(spec, list) and len(spec) == 2 and spec[1] in MOVED_CLASSES:
            index[name] = [getattr(wuerstchen, spec[1]).__module__, spec[1]]
    index_file.write_text(json.dumps(index, indent=2))


def read_index(folder: str | Path) -> dict:
    index_file = Path(folder) / "model_index.json"
    if not index_file.is_file():
        raise FileNotFoundError(f"{folder} is not a diffusers folder (no model_index.json)")
    return json.loads(index_file.read_text())


def load_pipeline(folder: str | Path, pipeline_class: str | None = None, **overrides):
    """The pipeline of a folder of this layout (`_class_name` of its index unless named), every
    component read with its own class; `overrides` replace components."""
    import diffusers

    index = read_index(folder)
    cls = getattr(diffusers, pipeline_class or index["_class_name"])
    names, _ = cls._get_signature_keys(cls)
    parts = {}
    for name in names:
        spec = index.get(name)
        if name in overrides:
            parts[name] = overrides[name]
        elif isinstance(spec, list) and spec[1] is not None and (Path(folder) / name).is_dir():
            parts[name] = component_class(*spec).from_pretrained(str(folder), subfolder=name)
        else:
            parts[name] = None
    return cls(**parts)


def cosine_alpha_bar(ratio: torch.Tensor) -> torch.Tensor:
    """ᾱ of the continuous cosine schedule at timestep ratio t ∈ [0, 1] (that of DDPMWuerstchenScheduler)."""
    ratio = ratio.double()
    start = math.cos(COSINE_S / (1 + COSINE_S) * math.pi / 2) ** 2
    return (torch.cos((ratio + COSINE_S) / (1 + COSINE_S) * math.pi / 2) ** 2 / start).clamp(1e-4, 0.9999)


class StageCFamily(DiffusersFamily):
    """A two-stage model whose prior trains. Subclasses say how the prior is called, how prompts are
    encoded, how sampled timesteps become its ratio and how effnet latents are normalised."""

    prior_pipeline_class: str
    decoder_pipeline_class: str
    combined_pipeline_class: str
    decoder_default_steps: int
    shares_text_encoder: bool = False  # the decoder reads the prior's text encoder (no decoder_text_encoder)

    # ---------------------------------------------------------------- family hooks
    def timestep_ratio(self, ratio: torch.Tensor) -> torch.Tensor:
        """(t + 1) / T → the ratio the prior is trained at."""
        raise NotImplementedError

    def to_prior_space(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw effnet latents → the latents the prior denoises (the prior pipeline inverts this)."""
        return latents

    def run_prior(self, model: Model, x: torch.Tensor, ratio: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        raise NotImplementedError

    def prior_pipeline_extras(self) -> dict:
        return {}

    def decoder_prompt_kwargs(self, pipe, prompt: str) -> dict:
        """The decoder pipeline's prompt arguments (a family whose decoder reads the prior's text
        encoder hands it embeddings in the decoder's dtype)."""
        return {"prompt": prompt}

    # ---------------------------------------------------------------- loading
    def load(self, source: str, config, *, config_dir: str | None = None) -> Model:
        quantization.refuse_unavailable(config, self.model_type)
        base = local_model_path(str(source), config)
        if os.path.isfile(base):
            raise ValueError(f"{self.facts.name} loads from a diffusers folder (a prior pipeline or the combined "
                             f"layout), not from the single file {base}")
        index = read_index(base)
        layout = PRIOR_COMBINED if PRIOR_COMBINED["prior"] in index else PRIOR_ONLY
        missing = [sub for sub in layout.values() if sub not in index]
        if missing:
            raise ValueError(f"{base} has no {', '.join(missing)}: it is not a {self.facts.name} prior folder")
        prior_name = _part_name(config, "prior")
        components = {part: self._prior_override(prior_name, base, index, sub, config)
                      if part == "prior" and prior_name else self._component(base, index, sub, part, config)
                      for part, sub in layout.items()}
        components["effnet_encoder"] = effnet.load(self._effnet_source(base, config))
        decoder_name = _part_name(config, "decoder")
        decoder_source = local_model_path(decoder_name, config) if decoder_name else (
            base if layout is PRIOR_COMBINED else None)
        diffusers_io.freeze(components, (*self.facts.parts, *self.text_encoders), config)
        model = Model(model_type=self.model_type, components=components, source=base)
        model.extra["decoder_source"] = decoder_source
        model.extra["load_config"] = config
        return model

    def _component(self, folder: str, index: dict, sub: str, part: str, config):
        cls = component_class(*index[sub])
        if not hasattr(cls, "from_pretrained") or not (Path(folder) / sub).is_dir():
            raise FileNotFoundError(f"{folder} has no {sub} folder")
        kwargs = quantization.loading_kwargs(cls, folder, sub, config, part) if isinstance(
            cls, type) and issubclass(cls, torch.nn.Module) else {}
        module = cls.from_pretrained(folder, subfolder=sub, **kwargs)
        if isinstance(module, torch.nn.Module):
            quantization.complete(module, config, part)
        return module

    def prior_state_from_file(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The diffusers state dict of a prior weights file (a family converts its original layout)."""
        return state

    def _prior_override(self, name: str, base: str, index: dict, sub: str, config):
        """`prior.model_name` in place of the base folder's prior: a folder with the prior (alone, or as
        a pipeline's `prior` / `prior_prior`), or one weights file of the base prior's architecture (its
        config from the base folder), loaded strictly."""
        cls = component_class(*index[sub])
        path = Path(name) if is_local(name) else Path(local_model_path(name, config))
        if path.is_file():
            from safetensors.torch import load_file

            prior = cls.from_config(cls.load_config(base, subfolder=sub))
            try:
                missing, unexpected = prior.load_state_dict(self.prior_state_from_file(load_file(str(path))),
                                                            strict=False)
            except RuntimeError as exc:  # tensors of other shapes
                raise ValueError(f"{path} does not hold a prior of the base model's architecture: {exc}") from None
            if missing or unexpected:
                raise ValueError(f"{path} does not hold a prior of the base model's architecture: missing "
                                 f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
            quantization.quantize_loaded(prior, config, "prior")
            return prior
        folder, sub = next(((str(path), s) for s in ("prior_prior", "prior") if (path / s / "config.json").is_file()),
                           (str(path), None))
        module = cls.from_pretrained(folder, subfolder=sub, **quantization.loading_kwargs(cls, folder, sub, config,
                                                                                          "prior"))
        quantization.complete(module, config, "prior")
        return module

    def _effnet_source(self, base: str, config) -> str:
        name = _part_name(config, "effnet_encoder")
        if name:
            return name if is_local(name) else _hub_effnet(name, config)
        if (Path(base) / EFFNET_FOLDER).is_dir():
            return str(Path(base) / EFFNET_FOLDER)
        raise FileNotFoundError(f"{base} holds no {EFFNET_FOLDER} folder: set the effnet encoder model "
                                "(effnet_encoder.model_name) to its folder or weights file")

    def load_decoder(self, model: Model) -> None:
        """Bring the decoder stage in (once), on the prior's device, in the configured weight dtypes."""
        if "decoder" in model.components:
            return
        source = model.extra.get("decoder_source")
        if source is None:
            raise FileNotFoundError(f"{model.source} holds the prior only: set the decoder model "
                                    "(decoder.model_name) to the decoder pipeline folder to sample or save")
        config = model.extra.get("load_config")
        index = read_index(source)
        parts = {part: sub for part, sub in DECODER.items()
                 if not (self.shares_text_encoder and part in ("decoder_text_encoder", "decoder_tokenizer"))}
        loaded = {part: self._component(source, index, sub, part, config) for part, sub in parts.items()}
        diffusers_io.freeze(loaded, tuple(p for p in self.facts.parts if p in DECODER_PARTS), config)
        device = next(model["prior"].parameters()).device
        for module in loaded.values():
            if isinstance(module, torch.nn.Module):
                module.to(device)
        model.components.update(loaded)

    # ---------------------------------------------------------------- encoding
    def encode_images(self, model: Model, pixels: torch.Tensor) -> torch.Tensor:
        return self.to_prior_space(effnet.encode(model["effnet_encoder"], pixels))

    def decode_for_vae_training(self, model: Model, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.facts.name} has no autoencoder to fine-tune")

    # ---------------------------------------------------------------- training
    def num_train_timesteps(self, model: Model) -> int:
        return T

    def noised(self, latents: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
        a = alpha_bar.to(latents.device, torch.float32).view(-1, *([1] * (latents.dim() - 1)))
        return a.sqrt() * latents + (1 - a).sqrt() * noise

    def predict(self, model: Model, inputs: Inputs, config, generator, timestep_sampler,
                deterministic: bool = False) -> Prediction:
        latents = inputs.latents
        timesteps = timestep_sampler.sample(latents.shape[0], generator, deterministic)
        ratio = self.timestep_ratio((timesteps.double() + 1) / T)
        alpha_bar = cosine_alpha_bar(ratio)
        noise = sample_noise(latents, config, generator)
        noisy = self.noised(latents, noise, alpha_bar)
        predicted = self.run_prior(model, noisy, ratio.float().to(latents.device), inputs)
        snr = (alpha_bar / (1 - alpha_bar)).float()
        return Prediction(predicted=predicted, target=noise, timesteps=timesteps.to(latents.device), snr=snr)

    # ---------------------------------------------------------------- sampling
    def _scheduler(self, scheduler):
        from diffusers import DDPMWuerstchenScheduler

        return DDPMWuerstchenScheduler.from_config(scheduler.config)

    def prior_pipeline(self, model: Model):
        import diffusers

        cls = getattr(diffusers, self.prior_pipeline_class)
        return cls(prior=model["prior"], text_encoder=model["text_encoder"], tokenizer=model["tokenizer"],
                   scheduler=self._scheduler(model["scheduler"]), **self.prior_pipeline_extras())

    def decoder_pipeline(self, model: Model):
        import diffusers

        self.load_decoder(model)
        cls = getattr(diffusers, self.decoder_pipeline_class)
        text = ("text_encoder", "tokenizer") if self.shares_text_encoder else ("decoder_text_encoder",
                                                                                "decoder_tokenizer")
        return cls(decoder=model["decoder"], text_encoder=model[text[0]], tokenizer=model[text[1]],
                   vqgan=model["decoder_vqgan"], scheduler=self._scheduler(model["decoder_scheduler"]))

    @torch.no_grad()
    def sample(self, model: Model, sample_config, on_step=None):
        prior_pipe, decoder_pipe = self.prior_pipeline(model), self.decoder_pipeline(model)
        for pipe in (prior_pipe, decoder_pipe):
            pipe.set_progress_bar_config(disable=True)
        seed = int(sample_config.seed)
        if sample_config.random_seed:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        generator = torch.Generator(device="cpu").manual_seed(seed)
        steps = int(sample_config.diffusion_steps)

        def step_end(_pipe, i, _t, kwargs):
            if on_step is not None:
                on_step(i + 1, steps)
            return kwargs

        prompt = self.expanded(model, [sample_config.prompt], "text_encoder")[0]
        negative = self.expanded(model, [sample_config.negative_prompt or ""], "text_encoder")[0]
        embeddings = prior_pipe(prompt=prompt, negative_prompt=negative or None, num_inference_steps=steps,
                                **self.size_kwargs(sample_config), guidance_scale=float(sample_config.cfg_scale),
                                generator=generator, callback_on_step_end=step_end).image_embeddings
        # the decoder's own text encoder knows no trained embedding: it reads the plain prompt
        decoder_prompt = prompt if self.shares_text_encoder else sample_config.prompt
        decoder_steps = max(1, min(steps, self.decoder_default_steps))
        decoder = model["decoder"]
        embeddings = embeddings.to(next(decoder.parameters()).dtype)
        return decoder_pipe(image_embeddings=embeddings, **self.decoder_prompt_kwargs(decoder_pipe, decoder_prompt),
                            num_inference_steps=decoder_steps, guidance_scale=0.0, generator=generator).images[0]

    # ---------------------------------------------------------------- saving
    def save_diffusers(self, model: Model, path: str | Path, dtype: torch.dtype | None = None) -> None:
        """The combined layout (prior, decoder stage, text encoders, schedulers) plus the effnet folder."""
        self.load_decoder(model)
        shared = self.shares_text_encoder
        components = {
            "prior_prior": model["prior"], "prior_text_encoder": model["text_encoder"],
            "prior_tokenizer": model["tokenizer"], "prior_scheduler": model["scheduler"],
            "decoder": model["decoder"], "vqgan": model["decoder_vqgan"], "scheduler": model["decoder_scheduler"],
            "text_encoder": model["text_encoder" if shared else "decoder_text_encoder"],
            "tokenizer": model["tokenizer" if shared else "decoder_tokenizer"],
        }
        diffusers_io.save_folder(components, path, self.combined_pipeline_class, dtype)
        record_moved_classes(path)
        encoder = model["effnet_encoder"]
        if dtype is not None and next(encoder.parameters()).dtype != dtype:
            import copy

            encoder = copy.deepcopy(encoder).to(dtype)
        encoder.save_pretrained(Path(path) / EFFNET_FOLDER, safe_serialization=True)

    # ---------------------------------------------------------------- adapters
    def lora_target_modules(self, model: Model, part: str) -> list[str]:
        """Every Linear/Conv2d except grouped (depthwise) convolutions, which peft's adapters cannot
        wrap at a rank that is not a multiple of the groups; for OFT also without the residual blocks'
        `channelwise` linears, whose channels-last 4-D input peft's OFT layer cannot reshape."""
        from modules.config.enums import PeftType

        module = model[part]
        config = model.extra.get("load_config")
        oft = config is not None and PeftType(config.peft_type) == PeftType.OFT_2
        return [name for name in super().lora_target_modules(model, part)
                if getattr(module.get_submodule(name), "groups", 1) == 1
                and not (oft and ".channelwise." in f".{name}.")]

    def single_file_components(self, model: Model) -> dict[str, torch.nn.Module]:
        return {"prior": model["prior"], "text_encoder": model["text_encoder"]}


def _hub_effnet(name: str, config) -> str:
    """A hub repository holding an image-encoder folder at its root (Würstchen's
    `warp-ai/EfficientNetEncoder`): only its config and weights are fetched."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    secrets = getattr(config, "secrets", None)
    try:
        return snapshot_download(name, cache_dir=getattr(config, "huggingface_cache_dir", "") or None,
                                 token=getattr(secrets, "huggingface_token", "") or None,
                                 local_files_only=offline(config),
                                 allow_patterns=["config.json", "*.safetensors"])
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise FileNotFoundError(f'the image encoder "{name}" is neither a local folder or file nor available from '
                                f"the Hugging Face hub or its cache ({type(exc).__name__})") from exc


def _part_name(config, part: str) -> str:
    part_config = getattr(config, part, None) if config is not None else None
    return (getattr(part_config, "model_name", "") or "").strip()
