"""What is trained, per training method: which parameters, in which optimizer groups, and how the
result is saved (final model, INTERNAL backup payload) and loaded back (continue from a backup)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modules.adapters import embeddings as emb_lib
from modules.adapters import peft_adapters
from modules.adapters.layer_filter import parse_layer_filter
from modules.config.enums import ModelFormat, PeftType, TrainingMethod
from modules.optim import make_parameter_group

from .distributed import current_world

INTERNAL_LORA = Path("lora") / "lora.safetensors"
INTERNAL_EMBEDDINGS = Path("embeddings")


@dataclass
class TrainGroup:
    """One optimizer parameter group and the config part that controls it."""

    name: str
    display_name: str
    params: list[torch.nn.Parameter]
    learning_rate: float | None
    stop_after: int | None = None
    stop_after_unit: object = "NEVER"
    frozen: bool = False


@dataclass
class MethodSetup:
    family: object
    model: object
    config: object
    groups: list[TrainGroup] = field(default_factory=list)
    _adapters_training: bool | None = field(default=None, init=False, repr=False)

    @property
    def method(self) -> TrainingMethod:
        return TrainingMethod(self.config.training_method)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        cfg, family, model = self.config, self.family, self.model
        self._load_embeddings()
        method = self.method
        text_parts = [p for p in family.text_encoders if p in model.components]
        trainable_text = [p for p in text_parts if family.facts.text_encoder(p).trainable]
        if method == TrainingMethod.LORA:
            self._attach_adapters(trainable_text)
        for part in trainable_text:
            part_cfg = getattr(cfg, part)
            if method == TrainingMethod.LORA and part in model.adapters:
                self._add_group(f"{part}_lora", peft_adapters.adapter_parameters(model[part]), part_cfg)
            elif method == TrainingMethod.FINE_TUNE and part_cfg.train:
                module = model[part]
                module.requires_grad_(True)
                module.get_input_embeddings().requires_grad_(False)  # added-token rows live in the overlay
                self._add_group(part, [p for p in module.parameters() if p.requires_grad], part_cfg)
        self._add_embedding_groups(text_parts)
        denoiser = family.denoiser
        if method == TrainingMethod.LORA and denoiser in model.adapters:
            self._add_group(f"{denoiser}_lora", peft_adapters.adapter_parameters(model[denoiser]), getattr(cfg, denoiser))
        elif method == TrainingMethod.FINE_TUNE and getattr(cfg, denoiser).train:
            keep = parse_layer_filter(cfg.layer_filter, cfg.layer_filter_regex)
            params = []
            for name, p in model[denoiser].named_parameters():
                p.requires_grad_(keep(name))
                if p.requires_grad:
                    params.append(p)
            self._add_group(denoiser, params, getattr(cfg, denoiser))
        elif method == TrainingMethod.FINE_TUNE_VAE:
            decoder = model["vae"].decoder
            decoder.requires_grad_(True)
            self._add_group("vae", list(decoder.parameters()), cfg.vae)
        self._enable_checkpointing()

    def _add_group(self, name, params, part_cfg, display=None, lr=None) -> None:
        if not params:
            return
        self.groups.append(TrainGroup(
            name=name, display_name=display or name, params=list(params),
            learning_rate=lr if lr is not None else getattr(part_cfg, "learning_rate", None),
            stop_after=getattr(part_cfg, "stop_training_after", None),
            stop_after_unit=getattr(part_cfg, "stop_training_after_unit", "NEVER")))

    def _attach_adapters(self, text_parts: list[str]) -> None:
        from modules.formats import load_lora, rescale_to_alpha
        from modules.formats.adapter_tensors import align_to_module

        cfg, family, model = self.config, self.family, self.model
        loaded: dict[str, dict[str, torch.Tensor]] = {}
        if cfg.lora_model_name:
            loaded = load_lora(cfg.lora_model_name, self.family.keymap, denoiser_config=self._denoiser_config())
        denoiser = family.denoiser
        for part in [*text_parts, denoiser]:
            part_cfg = getattr(cfg, part)
            file_state = loaded.get(part)
            if file_state is None and not part_cfg.train:
                continue
            if file_state is not None:
                file_state = align_to_module(file_state, model[part])
                targets = peft_adapters.adapted_modules({k: v for k, v in file_state.items()
                                                         if not k.endswith(".alpha")})
                rank, alpha = peft_adapters.file_rank_alpha(file_state)
            else:
                targets = peft_adapters.trainable_targets(model[part], family.lora_target_modules(model, part), cfg)
                if part == denoiser:
                    keep = parse_layer_filter(cfg.layer_filter, cfg.layer_filter_regex)
                    targets = [t for t in targets if keep(t)]
                rank = alpha = None
            if not targets:
                continue
            info = peft_adapters.attach_adapter(model[part], part, cfg, targets, rank, alpha)
            if file_state is not None:
                weights = rescale_to_alpha({part: file_state}, info.alpha)[part]
                peft_adapters.load_adapter_state(model[part], weights)
            if not part_cfg.train:
                for p in peft_adapters.adapter_parameters(model[part]):
                    p.requires_grad_(False)
            model.adapters[part] = info

    def _denoiser_config(self):
        return dict(self.model[self.family.denoiser].config)

    # ------------------------------------------------------------------ embeddings
    def _embedding_configs(self) -> list:
        return list(self.config.all_embedding_configs())

    def _encoders(self, parts=None) -> dict:
        parts = parts or [p for p in self.family.text_encoders if p in self.model.components]
        return {p: (self.model[p], self.family.tokenizer_of(self.model, p)) for p in parts}

    def _load_embeddings(self) -> None:
        from modules.formats import load_embedding

        if not self._embedding_configs():
            return
        encoders = self._encoders()
        for emb_cfg in self._embedding_configs():
            initial = None
            if emb_cfg.model_name:
                source = Path(emb_cfg.model_name)
                if source.is_dir():  # an INTERNAL backup holds one file per embedding uuid
                    source = source / INTERNAL_EMBEDDINGS / f"{emb_cfg.uuid}.safetensors"
                initial = _vectors_of_kind(load_embedding(source, self.family.keymap), emb_cfg, source)
            self.model.embeddings.append(emb_lib.add_embedding(encoders, emb_cfg, initial))
        embeddings = self.model.embeddings
        # each text encoder reads its own tokens for a placeholder; the family expands per encoder
        self.model.extra["expand_prompt"] = lambda text, part: emb_lib.expand_placeholders(text, embeddings, part)

    def _add_embedding_groups(self, text_parts: list[str]) -> None:
        cfg = self.config
        for emb in self.model.embeddings:
            if not emb.train:
                continue
            for part in text_parts:
                trains = getattr(cfg, part).train_embedding or len(self.family.text_encoders) == 1
                if not trains:
                    emb.vectors[part].requires_grad_(False)
                    continue
                prefix = "embeddings" if len(text_parts) == 1 else f"embeddings_{text_parts.index(part) + 1}"
                group = TrainGroup(name=f"{prefix}/{emb.uuid}", display_name=f"{prefix}/{emb.placeholder}",
                                   params=[emb.vectors[part]], learning_rate=cfg.embedding_learning_rate,
                                   stop_after=emb.config.stop_training_after,
                                   stop_after_unit=emb.config.stop_training_after_unit)
                self.groups.append(group)

    # ------------------------------------------------------------------ runtime
    def _enable_checkpointing(self) -> None:
        for part in (self.family.denoiser, *self.family.text_encoders):
            module = self.model.get(part)
            if module is None or not getattr(self.config, part).gradient_checkpointing:
                continue
            if hasattr(module, "enable_gradient_checkpointing"):
                module.enable_gradient_checkpointing()
            elif hasattr(module, "gradient_checkpointing_enable"):
                module.gradient_checkpointing_enable()

    def parameter_groups(self) -> list[dict]:
        return [make_parameter_group(g.display_name, g.params, self.config, g.learning_rate,
                                     world_size=current_world().size) | {"unique_name": g.name}
                for g in self.groups]

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for g in self.groups for p in g.params]

    def text_encoder_trains(self, part: str) -> bool:
        """Whether this encoder's output depends on trained weights (then it runs every step)."""
        if self.method == TrainingMethod.FINE_TUNE_VAE:
            return False
        trained = {p for g in self.groups for p in g.params}
        module = self.model.get(part)
        if module is None:
            return False
        return any(p in trained for p in module.parameters()) or any(
            p in trained for e in self.model.embeddings for p in e.vectors.values())

    def set_training(self, training: bool) -> None:
        """Adapter dropout on or off; walking every module is skipped while the state is unchanged."""
        if self._adapters_training == training:
            return
        self._adapters_training = training
        for module in self.model.modules().values():
            peft_adapters.set_adapter_dropout_training(module, training)

    def update_frozen(self, clock, progress) -> None:
        """Freeze groups whose stop_training_after has elapsed."""
        for g in self.groups:
            if not g.frozen and g.stop_after and clock.elapsed(g.stop_after, g.stop_after_unit, progress):
                g.frozen = True
                for p in g.params:
                    p.requires_grad_(False)
                    p.grad = None

    def after_optimizer_step(self) -> None:
        if self.model.embeddings:  # asked every step: nothing to enter without embeddings
            self._after_embedding_step()

    @torch.no_grad()
    def _after_embedding_step(self) -> None:
        if self.config.preserve_embedding_norm:
            for emb in (e for e in self.model.embeddings if not e.is_output):  # input-table norms only
                for part, vec in emb.vectors.items():
                    if not vec.requires_grad:  # frozen: never moved, so its norm stays as loaded
                        continue
                    table = self.model[part].get_input_embeddings()
                    rows = table.original_rows if hasattr(table, "original_rows") else table.weight.shape[0]
                    median = table.weight[:rows].norm(dim=-1).median()
                    vec.mul_(median / vec.norm(dim=-1, keepdim=True).clamp(min=1e-8))
        encoders = {p: self.model[p] for p in self.family.text_encoders if p in self.model.components}
        emb_lib.sync_tables(encoders, self.model.embeddings)

    # ------------------------------------------------------------------ saving
    def _embedding_vectors(self, emb) -> dict[str, torch.Tensor]:
        return emb.file_vectors()

    def save_internal(self, directory: Path) -> None:
        """The model payload of a backup: adapters, embeddings or the full diffusers folder."""
        from modules.formats.safetensors_io import write_safetensors

        directory.mkdir(parents=True, exist_ok=True)
        if self.model.embeddings:
            for emb in self.model.embeddings:
                write_safetensors(directory / INTERNAL_EMBEDDINGS / f"{emb.uuid}.safetensors",
                                  _embedding_file_tensors(self._embedding_vectors(emb), self.family.keymap))
        if self.method == TrainingMethod.LORA:
            tensors = {}
            for part, info in self.model.adapters.items():
                state = peft_adapters.adapter_state_dict(self.model[part])
                for key, value in state.items():
                    tensors[f"{part}.{key}"] = value
                if info.peft_type != PeftType.OFT_2:  # an orthogonal rotation has no alpha
                    for module in peft_adapters.adapted_modules(state):
                        tensors[f"{part}.{module}.alpha"] = torch.tensor(float(info.alpha))
            write_safetensors(directory / INTERNAL_LORA, tensors)
        elif self.method in (TrainingMethod.FINE_TUNE, TrainingMethod.FINE_TUNE_VAE):
            self._save_full(directory, ModelFormat.DIFFUSERS, None, {})

    def save_final(self, destination: str, fmt: ModelFormat, dtype: torch.dtype | None, metadata: dict) -> None:
        from modules.formats import save_embedding, save_lora

        fmt = ModelFormat(fmt)
        method = self.method
        keymap = self.family.keymap
        if method == TrainingMethod.EMBEDDING:
            main = next(e for e in self.model.embeddings if e.uuid == self.config.embedding.uuid)
            save_embedding(destination, self._embedding_vectors(main), keymap, metadata, dtype=dtype)
            self._save_extra_embeddings(destination, exclude=main.uuid, dtype=dtype)
            return
        if method == TrainingMethod.LORA:
            parts = {part: peft_adapters.adapter_state_dict(self.model[part]) for part in self.model.adapters}
            alphas = {f"{part}.{m}": info.alpha for part, info in self.model.adapters.items()
                      for m in peft_adapters.adapted_modules(parts[part])}
            bundled = None
            if self.model.embeddings and self.config.bundle_additional_embeddings:
                bundled = {e.placeholder: self._embedding_vectors(e) for e in self.model.embeddings}
            save_lora(destination, parts, alphas, keymap, fmt, metadata, embeddings=bundled,
                      denoiser_config=self._denoiser_config(), dtype=dtype)
            if self.model.embeddings and not self.config.bundle_additional_embeddings:
                self._save_extra_embeddings(destination, dtype=dtype)
            return
        if fmt == ModelFormat.DIFFUSERS:
            from .backups import building_folder

            # written beside the destination and renamed into place: a failed save keeps the previous model
            with building_folder(destination) as partial:
                self._save_full(partial, fmt, dtype, metadata)
        else:
            self._save_full(destination, fmt, dtype, metadata)
        self._save_extra_embeddings(destination, dtype=dtype)

    def _save_full(self, destination, fmt: ModelFormat, dtype, metadata) -> None:
        from modules.formats import save_original_single_file

        encoders = {p: self.model[p] for p in self.family.text_encoders if p in self.model.components}
        with emb_lib.plain_encoders(encoders):
            if fmt == ModelFormat.DIFFUSERS:
                self.family.save_diffusers(self.model, destination, dtype)
            else:
                save_original_single_file(destination, self.family.single_file_components(self.model),
                                          self.family.keymap, dtype, metadata, fmt=fmt)

    def _save_extra_embeddings(self, destination: str, exclude: str | None = None, dtype=None) -> None:
        from modules.formats import save_embedding

        base = str(destination)
        base = base[: -len(".safetensors")] if base.endswith(".safetensors") else base.rstrip("/")
        for emb in self.model.embeddings:
            if emb.uuid == exclude:
                continue
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in emb.placeholder.replace(" ", "_"))
            save_embedding(os.path.join(base + "_embeddings", f"{name}.safetensors"),
                           self._embedding_vectors(emb), self.family.keymap, dtype=dtype)


def _vectors_of_kind(loaded: dict[str, torch.Tensor], emb_cfg, source) -> dict[str, torch.Tensor]:
    """The loaded vectors this embedding trains, by part: output-space (`_out`) ones for an output
    embedding, input-space ones otherwise. A file holding only the other kind is refused by name."""
    suffix = emb_lib.OUTPUT_SUFFIX
    output = bool(emb_cfg.is_output_embedding)
    chosen = {k.removesuffix(suffix): v for k, v in loaded.items() if k.endswith(suffix) == output}
    if not chosen:
        wanted, held = ("output-space", "input-space") if output else ("input-space", "output-space")
        raise ValueError(f"embedding {emb_cfg.placeholder!r}: {source} holds only {held} vectors, not the "
                         f"{wanted} ones this embedding trains; switch 'output embedding' "
                         f"{'off' if output else 'on'} to use it")
    return chosen


def _embedding_file_tensors(vectors: dict[str, torch.Tensor], keymap) -> dict[str, torch.Tensor]:
    from modules.formats.embedding import embedding_tensors

    return embedding_tensors(vectors, keymap)
