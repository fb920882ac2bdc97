"""The generic training loop (spec §7): construction, start(), train(), end()."""
from __future__ import annotations

import gc
import json
import logging
import math
import os
import pickle
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from modules.config.enums import EMAMode, ModelFormat, TrainingMethod
from modules.config.files import atomic_write_json, load_concepts
from modules.objectives import Prediction, TimestepSampler

from .backups import BackupError, building_folder, check_backup, find_last_backup, looks_like_backup
from .callbacks import TrainCallbacks
from .commands import TrainCommands
from .distributed import GradientReducer, current_world, rank_device
from .ema import EMA
from .event_log import EventLog
from .events import ScalarEvent
from .loss import compute_loss
from .progress import TrainProgress
from .sampling import render_samples, training_samples
from .timing import IntervalClock
from .workspace import (
    Workspace,
    read_progress,
    restore_optimizer,
    timestamp,
    write_backup_extras,
)

log = logging.getLogger(__name__)

SCALAR_WRITE_INTERVAL_S = 1.0  # logged scalars reach the event file in batches at most this late


class GenericTrainer:
    """Trains `config` with the model `family` the caller looked up (see `modules.engine`)."""

    def __init__(self, config, family, callbacks: TrainCallbacks | None = None,
                 commands: TrainCommands | None = None):
        # a private, normalised copy: values set as plain strings become enum members again
        self.config = type(config).default_values().from_dict(config.to_dict(), migrate=False)
        # one of several processes: rank 0 alone writes logs, samples, backups and outputs
        self.world = current_world()
        self._shard = (self.world.rank, self.world.size)
        if not self.world.is_main:
            self.config.clear_cache_before_training = False  # rank 0 clears it before the others look
        self.callbacks = callbacks or TrainCallbacks()
        self.commands = commands or TrainCommands()
        self.workspace = Workspace(self.config)
        self.clock = IntervalClock()
        self.progress = TrainProgress()
        self.one_step_trained = False
        self.loss_history: list[tuple[int, float]] = []  # (global step of the update, loss)
        self.warnings: list[str] = []  # also sent to on_update_status as "warning: ..."
        self.family = family
        self.model = self.method = self.optimizer = self.lr_scheduler = None
        self.ema: EMA | None = None
        self._autocast_to: torch.dtype | None = None
        self.dataset = None
        self.text_encoder_parking = None  # set when text encodings are cached (text_encoder_parking.py)
        self.text_encoder_bytes_freed = 0
        self._tb_process = None
        self._smooth_loss: float | None = None
        self._loss_updates = 0
        self._unwritten_scalars: list[tuple[str, float, int, float]] = []  # (tag, value, step, wall time)
        self._scalars_written_at = time.monotonic()
        # flushed with every batch of scalars (each second) so TensorBoard and the UI see a live run
        self.writer = EventLog(self.workspace.tensorboard_dir) if self.world.is_main else None
        if self.world.is_main and self.config.tensorboard and not self.config.tensorboard_always_on:
            self._start_tensorboard()

    # ================================================================== errors
    def _reporting_errors(self, phase) -> None:
        """A failure reaches on_error and is raised again; nothing process-wide stays changed
        (autocast, grad mode and worker pools are scoped), so the next trainer starts clean."""
        try:
            phase()
        except Exception as exc:
            if self.optimizer is not None:
                self.optimizer.zero_grad(set_to_none=True)
            self.callbacks.on_error(exc)
            raise

    # ================================================================== start
    def start(self) -> None:
        self._reporting_errors(self._start)

    def _start(self) -> None:
        cfg = self.config
        if self.world.is_main:
            self._write_config_snapshot()
        if cfg.train_dtype.value == "TFLOAT_32":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self._status("loading the model")
        if cfg.continue_last_backup:
            self._status("searching for previous backups")
            self._use_last_backup()
        sources = self._backup_sources()
        for source in dict.fromkeys(sources.values()):
            check_backup(source)
        self.device = torch.device(rank_device(cfg, self.world))
        if self.device.type == "cuda" and self.world.active:
            torch.cuda.set_device(self.device)
        base = cfg.base_model_name
        with _reading_backup(sources.get("base")):
            self.model = self.family.load(base, cfg)
        self._status("running model setup")
        from .methods import MethodSetup

        self.method = MethodSetup(self.family, self.model, cfg)
        # new adapters start from the same weights in every run, whatever ran before in this process
        with torch.random.fork_rng(devices=[]), _reading_backup(sources.get("lora") or sources.get("embedding")):
            torch.manual_seed(0)
            self.method.setup()
        for module in self.model.modules().values():
            module.to(self.device)
        self._autocast_to = self._autocast_dtype()  # weight dtypes are fixed from here on
        self._create_optimizer()
        resumed = self._resume_source()
        if resumed is not None:
            with _reading_backup(resumed):
                progress = read_progress(resumed)
                if progress is not None:
                    self.progress = progress
                restore_optimizer(resumed, self.optimizer, self._group_names(), self._optimizer_name())
                ema_file = Path(resumed) / "ema" / "ema.pt"
                if self.ema is not None and ema_file.is_file():
                    self.ema.load_state_dict(torch.load(ema_file, map_location="cpu"))
        self._status("creating the data loader/caching")
        self._create_dataset()
        self.method.set_training(True)  # the walk over every module once here, not in the first step

    def _write_config_snapshot(self) -> None:
        try:
            data = self.config.to_pack_dict(secrets=False)
        except (OSError, ValueError):  # missing concept/sample files: keep the settings at least
            data = self.config.to_settings_dict(secrets=False)
        atomic_write_json(self.workspace.config_path(), data)

    def _use_last_backup(self) -> None:
        """Continue from the newest complete backup; newer unfinished or damaged ones are named and passed over."""
        cfg = self.config
        skipped: list[str] = []

        def skip(folder: Path, reason: str) -> None:
            skipped.append(folder.name)
            self._warn(f"skipped backup {folder.name}: {reason}")

        found = find_last_backup(self.workspace.backup_root, skip)
        if found is None:
            self._warn("no usable backup found, starting a new run" if skipped
                       else "no backup found, starting a new run")
            return
        path = str(found)
        print(f"continuing from backup {path}")
        method = TrainingMethod(cfg.training_method)
        if method == TrainingMethod.LORA:
            cfg.lora_model_name = path
        elif method == TrainingMethod.EMBEDDING:
            cfg.embedding.model_name = path
        else:
            cfg.base_model_name = path
        for emb in cfg.additional_embeddings:
            emb.model_name = path

    def _backup_sources(self) -> dict[str, str]:
        """The backup folders this run reads from ("base", "lora", "embedding"): each must be usable."""
        cfg = self.config
        method = TrainingMethod(cfg.training_method)
        sources: dict[str, str] = {}
        if cfg.base_model_name and looks_like_backup(cfg.base_model_name):
            sources["base"] = cfg.base_model_name
        if method == TrainingMethod.LORA and cfg.lora_model_name and (
                os.path.isdir(cfg.lora_model_name) or looks_like_backup(cfg.lora_model_name)):
            sources["lora"] = cfg.lora_model_name
        for emb in cfg.all_embedding_configs():
            name = emb.model_name
            if name and "embedding" not in sources and (os.path.isdir(name) or looks_like_backup(name)):
                sources["embedding"] = name
        return sources

    def _resume_source(self) -> str | None:
        cfg = self.config
        method = TrainingMethod(cfg.training_method)
        candidate = {TrainingMethod.LORA: cfg.lora_model_name,
                     TrainingMethod.EMBEDDING: cfg.embedding.model_name}.get(method, cfg.base_model_name)
        if candidate and (Path(candidate) / "meta.json").is_file():
            return candidate
        return None

    def _create_optimizer(self) -> None:
        from modules.optim import create_optimizer

        cfg = self.config
        groups = self.method.parameter_groups()
        if not groups:
            raise ValueError("nothing to train: every part is switched off")
        self.optimizer = create_optimizer(groups, cfg)
        self.reducer = GradientReducer(self.method.trainable_parameters(), self.world, cfg.gradient_reduce_precision)
        if EMAMode(cfg.ema) != EMAMode.OFF:
            device = self.device if EMAMode(cfg.ema) == EMAMode.GPU else "cpu"
            self.ema = EMA(self.method.trainable_parameters(), cfg.ema_decay, cfg.ema_update_step_interval, device)

    def _group_names(self) -> list[str]:
        return [g.name for g in self.method.groups]

    def _optimizer_name(self) -> str:
        return str(self.config.optimizer.optimizer)

    def _create_dataset(self) -> None:
        from modules.data import TrainDataset

        from .cache_producers import image_producer, text_producer

        cfg, family, model, method = self.config, self.family, self.model, self.method
        concepts = cfg.concepts if cfg.concepts is not None else load_concepts(cfg.concept_file_name)
        self.concepts = concepts
        # latents can be cached unless the pixels are needed at train time (VAE target, inpainting input)
        needs_pixels = TrainingMethod(cfg.training_method) == TrainingMethod.FINE_TUNE_VAE or family.needs_pixels
        encode_images = None if needs_pixels else (lambda pixels: family.encode_images(model, pixels.to(self.device)))
        text_trains = any(method.text_encoder_trains(p) for p in family.text_encoders)
        encode_prompts = None
        if not text_trains:
            def encode_prompts(texts):
                self._restore_text_encoders()  # a later epoch's text variation may need them again
                return family.encode_prompts(model, texts, cfg)
        with_masks = bool(cfg.masked_training) or family.has_mask_input
        # clips of video models get the frame counts the family takes; skipped files reach the UI as warnings;
        # the caches record what wrote them (a validation dataset shares the folder, so the producers too)
        shared = dict(encode_images=encode_images, encode_prompts=encode_prompts, latent_scale=family.pixel_quantum,
                      with_masks=with_masks, frame_count=family.frame_count, on_warning=self._warn,
                      token_sequences=family.facts.token_sequences,
                      image_producer=image_producer(cfg, family.facts), text_producer=text_producer(cfg, family.facts))
        self.dataset = TrainDataset(cfg, concepts, **shared)
        with self.world.main_first():  # rank 0 fills the caches, the others read them
            self.dataset.prepare()
        self.validation_dataset = None
        if cfg.validation and any(str(c.type) == "VALIDATION" for c in concepts):
            self.validation_dataset = TrainDataset(cfg, concepts, concept_type="VALIDATION", **shared)
            with self.world.main_first():
                self.validation_dataset.prepare()
        if self.dataset.cache_text:  # the text encoders only fill the cache: parked before each step
            from .text_encoder_parking import TextEncoderParking

            encoders = {p: model[p] for p in family.text_encoders if p in model.components}
            self.text_encoder_parking = TextEncoderParking(encoders, self.device, cfg.temp_device,
                                                           Path(cfg.cache_dir) / "parked")
            self._park_text_encoders()  # the cache is filled: their memory is free before the first step

    # ================================================================== train
    def train(self) -> None:
        # parked text encoders stay parked: whatever needs them next (sampling, saving, `end`) restores them
        try:
            self._reporting_errors(self._train)
        finally:
            self._write_scalars()

    def _train(self) -> None:
        cfg = self.config
        from modules.optim import create_lr_scheduler, prepare_for_training

        if cfg.only_cache:
            self._status("Caching")
            for epoch in range(self.progress.epoch, cfg.epochs):
                with self.world.main_first():
                    self.dataset.batches_per_epoch(cfg.batch_size, epoch)
            return
        accumulation = max(1, int(cfg.gradient_accumulation_steps))
        sampler = TimestepSampler(cfg, self.family.num_train_timesteps(self.model))
        pending_grads = False
        accumulated = 0.0
        queued_samples: list[tuple[list, bool]] = []
        last_gc = time.monotonic()
        for epoch in range(self.progress.epoch, cfg.epochs):
            if self._stop_asked():
                return
            self._status("Starting epoch/caching")
            with self.world.main_first():
                steps_in_epoch = self.dataset.batches_per_epoch(cfg.batch_size, epoch, self._shard)
            prepare_for_training(self.optimizer)
            if self.lr_scheduler is None:
                total = int(steps_in_epoch * cfg.epochs / accumulation)
                self.lr_scheduler = create_lr_scheduler(self.optimizer, cfg, total, self.progress.global_step,
                                                        steps_per_epoch=steps_in_epoch)
            for batch in self.dataset.epoch(epoch, cfg.batch_size, start_batch=self.progress.epoch_step,
                                            shard=self._shard):
                stop = self._stop_asked()
                sample_due = not stop and self.clock.elapsed(cfg.sample_skip_first, cfg.sample_after_unit,
                                                             self.progress) \
                    and self.clock.repeating("sample", cfg.sample_after, cfg.sample_after_unit, self.progress, True)
                if sample_due or self.commands.get_and_reset_sample_default_command():
                    queued_samples.append((training_samples(cfg), False))
                if self.clock.repeating("backup", cfg.backup_after, cfg.backup_after_unit, self.progress, False):
                    self.commands.backup()
                if self.clock.elapsed(cfg.save_skip_first, cfg.save_every_unit, self.progress) and \
                        self.clock.repeating("save", cfg.save_every, cfg.save_every_unit, self.progress, False):
                    self.commands.save()
                for custom in self.commands.get_and_reset_sample_custom_commands():
                    queued_samples.append(([custom], True))
                if time.monotonic() - last_gc > 300:
                    gc.collect()
                    last_gc = time.monotonic()
                if not pending_grads:
                    for samples, custom in queued_samples:
                        self._sample(samples, custom)
                    queued_samples.clear()
                    if self.commands.get_and_reset_backup_command():
                        self.backup()
                    if self.commands.get_and_reset_save_command():
                        self.save()
                self._park_text_encoders()
                self._status("Training ...")
                loss = self._train_step(batch, sampler)
                if accumulation > 1:  # no division (and its backward) for the usual one step
                    loss = loss / accumulation
                loss.backward()
                accumulated += loss.item()
                pending_grads = True
                if (self.progress.global_step + 1) % accumulation == 0:
                    self._optimizer_step(accumulated)
                    accumulated = 0.0
                    pending_grads = False
                if self.validation_dataset is not None and self.world.is_main and self.clock.repeating(
                        "validate", cfg.validate_after, cfg.validate_after_unit, self.progress, True):
                    self._validate(sampler)
                self.progress.next_step(cfg.batch_size)
                self.callbacks.on_update_train_progress(self.progress, steps_in_epoch, cfg.epochs)
                if self._stop_asked():
                    return
            self.progress.next_epoch()
            self.callbacks.on_update_train_progress(self.progress, steps_in_epoch, cfg.epochs)
            if self._stop_asked():
                return

    def _stop_asked(self) -> bool:
        """A stop command, agreed by every process (they all leave at the same step)."""
        return self.world.any(self.commands.get_stop_command())

    def _generator(self, deterministic: bool = False) -> torch.Generator:
        # one generator per micro-step: noise, timesteps and caption dropout repeat exactly after a resume
        seed = 0 if deterministic else self.world.seed(self.progress.global_step)
        return torch.Generator().manual_seed(seed)

    def _seed_global_generators(self, seed: int) -> None:
        """Adapter dropout draws from the global generators: the CPU one and the train device's.
        Not `torch.manual_seed`, which also queues a seed for every backend not yet started (CUDA, XPU,
        MTIA), recording a stack trace for each: about a millisecond a step."""
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        elif self.device.type != "cpu":
            torch.manual_seed(seed)

    def _autocast(self):
        dtype = self._autocast_to
        return torch.autocast(device_type=self.device.type, dtype=dtype) if dtype is not None else nullcontext()

    def _autocast_dtype(self) -> torch.dtype | None:
        """The train dtype, unless the denoiser's weights are the other half type: autocast cannot join
        float16 and bfloat16 tensors, so such weights (an SDXL preset: bfloat16 weights, float16 train
        dtype) run in the fallback train dtype when that matches them, else in their own dtype."""
        halves = (torch.bfloat16, torch.float16)
        dtype = self.config.train_dtype.torch_dtype()
        if dtype not in halves:
            return None
        weights = {p.dtype for p in self.model[self.family.denoiser].parameters()} & set(halves)
        if not weights or dtype in weights:
            return dtype
        fallback = self.config.fallback_train_dtype.torch_dtype()
        return fallback if fallback in weights else weights.pop()

    def _conditioning(self, batch, generator: torch.Generator, deterministic: bool) -> dict[str, torch.Tensor]:
        family, model, cfg, method = self.family, self.model, self.config, self.method
        if batch.text is not None:
            cond = {k: v.to(self.device) for k, v in batch.text.items()}
        else:
            trains = any(method.text_encoder_trains(p) for p in family.text_encoders)
            with torch.enable_grad() if trains else torch.no_grad():
                cond = family.encode_prompts(model, list(batch.prompts), cfg)
        if deterministic:
            return cond
        n = len(batch)
        for encoder in family.facts.text_encoders:
            p = float(getattr(cfg, encoder.part).dropout_probability or 0.0)
            if p <= 0:
                continue
            keep = (torch.rand(n, generator=generator) >= p).float()
            for key in encoder.conditioning_keys:
                value = cond[key]
                cond[key] = value * keep.to(value).view(-1, *([1] * (value.ndim - 1)))
        return cond

    def _prediction(self, batch, sampler, deterministic: bool = False) -> tuple[Prediction, object]:
        family, model, cfg = self.family, self.model, self.config
        generator = self._generator(deterministic)
        cond = self._conditioning(batch, generator, deterministic)
        pixels = batch.pixels.to(self.device) if batch.pixels is not None else None
        latents = batch.latents.to(self.device) if batch.latents is not None else family.encode_images(model, pixels)
        masks = batch.masks.to(self.device) if batch.masks is not None else None
        inputs = family.prepare_inputs(model, latents, pixels, masks, cond, cfg, batch=batch)
        return family.predict(model, inputs, cfg, generator, sampler, deterministic), inputs

    def _train_step(self, batch, sampler) -> torch.Tensor:
        cfg = self.config
        self._seed_global_generators(self.world.seed(self.progress.global_step))
        self.method.set_training(True)
        with self._autocast():
            if TrainingMethod(cfg.training_method) == TrainingMethod.FINE_TUNE_VAE:
                return self._vae_step(batch)
            prediction, inputs = self._prediction(batch, sampler)
            prior = self._prior_prediction(batch, sampler, prediction)
        # an inpainting model's mask is its input, not a loss weight
        masked = bool(cfg.masked_training) and not self.family.has_mask_input
        return compute_loss(prediction, cfg, mask=inputs.masks, concept_weights=batch.loss_weights, prior=prior,
                            masked=masked)

    def _prior_prediction(self, batch, sampler, prediction: Prediction):
        """LoRA only: the base model's output for PRIOR_PREDICTION concepts and masked prior preservation."""
        cfg = self.config
        if TrainingMethod(cfg.training_method) != TrainingMethod.LORA:
            return None
        prior_rows = [i for i, t in enumerate(batch.concept_types) if t == "PRIOR_PREDICTION"]
        wants_masked = cfg.masked_training and cfg.masked_prior_preservation_weight > 0
        if not prior_rows and not wants_masked:
            return None
        from modules.adapters.peft_adapters import adapters_disabled

        with torch.no_grad(), adapters_disabled(self.model.modules().values()):
            base, _ = self._prediction(batch, sampler)
        for i in prior_rows:
            prediction.target[i] = base.predicted[i].detach()
        return base.predicted.detach() if wants_masked else None

    def _vae_step(self, batch) -> torch.Tensor:
        pixels = batch.pixels.to(self.device)
        latents = self.family.encode_images(self.model, pixels)
        decoded = self.family.decode_for_vae_training(self.model, latents)
        prediction = Prediction(predicted=decoded, target=pixels, timesteps=torch.zeros(len(batch), dtype=torch.long))
        return compute_loss(prediction, self.config, concept_weights=batch.loss_weights)

    def _optimizer_step(self, accumulated_loss: float) -> None:
        cfg = self.config
        step = self.progress.global_step
        accumulated_loss = self.world.mean(accumulated_loss)  # every process sees (and checks) the same loss
        if not math.isfinite(accumulated_loss):  # checked before the update: the weights stay the last good ones
            raise FloatingPointError(f"loss is {accumulated_loss} at step {step}")
        self.reducer.reduce()
        if cfg.clip_grad_norm is not None:
            params = [p for p in self.method.trainable_parameters() if p.grad is not None]
            if params:
                torch.nn.utils.clip_grad_norm_(params, float(cfg.clip_grad_norm))
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_history.append((step, accumulated_loss))
        self._log_step(accumulated_loss, step)
        self.method.after_optimizer_step()
        self.method.update_frozen(self.clock, self.progress)
        if self.ema is not None:
            n = step // max(1, int(cfg.gradient_accumulation_steps))
            self.ema.step(n)
            self._scalar("ema_decay", self.ema.decay, step)
        self.one_step_trained = True

    def _log_step(self, loss: float, step: int) -> None:
        from modules.optim import reported_learning_rates

        self._loss_updates += 1
        decay = min(0.99, 1 - 1 / self._loss_updates)
        self._smooth_loss = loss if self._smooth_loss is None else decay * self._smooth_loss + (1 - decay) * loss
        if self.writer is None:  # the scalars go nowhere else
            return
        lrs = reported_learning_rates(self.optimizer, self.lr_scheduler.get_last_lr())
        self._scalars([*((f"lr/{name}", lr) for name, lr in lrs.items()), ("loss/train_step", loss),
                       ("smooth_loss/train_step", self._smooth_loss)], step)

    @torch.no_grad()
    def _validate(self, sampler) -> None:
        self._status("Calculating validation loss")
        self.method.set_training(False)
        totals: dict[str, list[float]] = {}
        for batch in self.validation_dataset.epoch(0, 1):
            prediction, inputs = self._prediction(batch, sampler, deterministic=True)
            loss = compute_loss(prediction, self.config, concept_weights=batch.loss_weights)
            label = batch.concept_names[0] or os.path.basename(os.path.dirname(batch.image_paths[0]))
            totals.setdefault(label, []).append(float(loss))
        step = self.progress.global_step
        for label, values in totals.items():
            self._scalar(f"loss/validation_step/{label}", sum(values) / len(values), step)
        if len(totals) > 1:
            means = [sum(v) / len(v) for v in totals.values()]
            self._scalar("loss/validation_step/total_average", sum(means) / len(means), step)

    # ================================================================== sampling, backup, save
    def _eval_mode(self):
        from contextlib import contextmanager

        from modules.optim import prepare_for_eval, prepare_for_training

        @contextmanager
        def scope():
            prepare_for_eval(self.optimizer)
            self._restore_text_encoders()  # sampling encodes prompts, saving writes the whole model
            self.method.set_training(False)
            self.method.after_optimizer_step()
            try:
                yield
            finally:
                prepare_for_training(self.optimizer)

        return scope()

    def _sample(self, samples: list, custom: bool) -> None:
        if not samples or not self.world.is_main:
            return
        self._status("Sampling ...")
        on_sample = self.callbacks.on_sample_custom if custom else self.callbacks.on_sample_default
        on_progress = self.callbacks.on_update_sample_custom_progress if custom \
            else self.callbacks.on_update_sample_default_progress
        kwargs = dict(custom=custom, on_sample=on_sample, on_progress=on_progress, writer=self.writer)
        with self._eval_mode():
            if self.ema is not None:
                with self.ema.swapped_in():
                    render_samples(self.family, self.model, self.config, self.workspace, self.progress, samples,
                                   postfix="", **kwargs)
                if self.config.non_ema_sampling and not custom:
                    render_samples(self.family, self.model, self.config, self.workspace, self.progress, samples,
                                   postfix=" - no-ema", **kwargs)
            else:
                render_samples(self.family, self.model, self.config, self.workspace, self.progress, samples,
                               postfix="", **kwargs)

    def backup(self) -> Path | None:
        """Written into `<name>.partial` and renamed into place once complete: a crash never leaves a
        half-written folder under a backup's name (and the leftover is removed here next time)."""
        if not self.world.is_main:
            return None
        self._status("Creating backup")
        for left in self.workspace.remove_unfinished_backups():
            log.info("removed the unfinished backup %s", left)
        directory = self.workspace.backup_dir(self.progress)
        with self._eval_mode(), building_folder(directory) as partial:
            self.method.save_internal(partial)
            write_backup_extras(partial, self.progress, self.optimizer, self._group_names(),
                                self._optimizer_name(), self.ema, self.config)
        if self.config.rolling_backup:
            self.workspace.prune_backups(int(self.config.rolling_backup_count))
        return directory

    def _output_dtype(self):
        return self.config.output_dtype.torch_dtype()

    def save(self) -> Path | None:
        if not self.world.is_main:
            return None
        self._status("Saving")
        fmt = ModelFormat(self.config.output_model_format)
        path = self.workspace.save_path(self.progress, fmt.file_extension())
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._eval_mode(), (self.ema.swapped_in() if self.ema is not None else nullcontext()):
            self.method.save_final(str(path), fmt, self._output_dtype(), self._metadata())
        return path

    def _metadata(self) -> dict[str, str]:
        from modules.formats import build_model_spec

        cfg = self.config
        try:
            return build_model_spec(cfg.model_type, cfg.training_method, keymap=self.family.keymap,
                                    resolution=cfg.resolution,
                                    train_config=cfg, include_train_config=cfg.include_train_config)
        except Exception:  # noqa: BLE001 - a missing spec entry must not lose the trained model
            log.exception("no model-spec header")
            return {}

    # ================================================================== end
    def end(self) -> None:
        cfg = self.config
        try:
            if self.one_step_trained and self.world.is_main:
                if cfg.backup_before_save:
                    self.backup()
                self._status("Saving the final model")
                if self.ema is not None:
                    self.ema.copy_to_model()
                fmt = ModelFormat(cfg.output_model_format)
                destination = cfg.output_model_destination
                if os.path.isdir(destination) and fmt.is_single_file():
                    destination = os.path.join(destination, f"{self.workspace.prefix}{timestamp()}.safetensors")
                Path(destination).parent.mkdir(parents=True, exist_ok=True)
                with self._eval_mode():
                    self.method.save_final(destination, fmt, self._output_dtype(), self._metadata())
        finally:
            if self.text_encoder_parking is not None:
                self.text_encoder_parking.close()
            if self.writer is not None:
                self._write_scalars()
                self.writer.close()
            self._stop_tensorboard()

    # ================================================================== helpers
    def _scalar(self, tag: str, value: float, step: int) -> None:
        self._scalars([(tag, value)], step)

    def _scalars(self, values: list[tuple[str, float]], step: int) -> None:
        """Values logged at one moment: one wall time, and events only where someone listens."""
        if self.writer is None:
            return
        wall = time.time()
        self._unwritten_scalars.extend((tag, value, step, wall) for tag, value in values)
        if time.monotonic() - self._scalars_written_at >= SCALAR_WRITE_INTERVAL_S:
            self._write_scalars()
        if self.callbacks.listens("on_scalar"):
            for tag, value in values:
                self.callbacks.on_scalar(ScalarEvent(tag=tag, step=int(step), value=float(value)))

    def _write_scalars(self) -> None:
        """The logged scalars into the event file, each step's with the wall time it was logged at.
        Written in batches: one after another they cost a fraction of what each step's few cost alone."""
        if self.writer is not None and self._unwritten_scalars:
            self.writer.add_scalars(self._unwritten_scalars)
        self._unwritten_scalars.clear()
        self._scalars_written_at = time.monotonic()

    def _status(self, text: str) -> None:
        self.callbacks.on_update_status(text)

    def _park_text_encoders(self) -> None:
        parking = self.text_encoder_parking
        if parking is None:
            return
        freed = parking.park()
        if freed and not self.text_encoder_bytes_freed:  # said once, not after every sample
            from .text_encoder_parking import describe_bytes

            self.text_encoder_bytes_freed = freed
            where = "the GPU" if parking.train_device.type == "cuda" else str(parking.train_device)
            how = f"moved to {parking.temp_device}" if parking.moves else "written to the cache folder"
            text = f"Text encoders moved off {where} after caching ({how}): {describe_bytes(freed)} freed"
            log.info(text)
            print(text)
            self._status(text)

    def _restore_text_encoders(self) -> None:
        if self.text_encoder_parking is not None:
            self.text_encoder_parking.restore()

    def _warn(self, text: str) -> None:
        """Logged, kept in `warnings` and shown to the UI as a status line."""
        log.warning(text)
        print(f"warning: {text}")
        self.warnings.append(text)
        self._status(f"warning: {text}")

    def _start_tensorboard(self) -> None:
        cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(self.workspace.root / "tensorboard"),
               "--port", str(self.config.tensorboard_port), "--samples_per_plugin=images=100,scalars=10000"]
        if self.config.tensorboard_expose:
            cmd.append("--bind_all")
        try:
            self._tb_process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            log.warning("could not start TensorBoard")

    def _stop_tensorboard(self) -> None:
        if self._tb_process is not None:
            self._tb_process.terminate()
            try:
                self._tb_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._tb_process.kill()
            self._tb_process = None


def _is_read_failure(exc: BaseException) -> bool:
    """Errors that mean a file could not be read (missing, cut, not what it claims to be)."""
    if isinstance(exc, (BackupError, torch.OutOfMemoryError, MemoryError)):
        return False
    if isinstance(exc, (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, UnicodeDecodeError)):
        return True
    if type(exc).__module__.startswith("safetensors") or type(exc).__name__ == "SafetensorError":
        return True
    if isinstance(exc, json.JSONDecodeError):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("PytorchStreamReader", "safetensors",
                                                                           "header", "truncated"))


@contextmanager
def _reading_backup(path: str | None):
    """A failure to read the backup folder `path` becomes a one-line BackupError naming it."""
    if path is None:
        yield
        return
    try:
        yield
    except Exception as exc:
        if not _is_read_failure(exc):
            raise
        log.debug("reading the backup %s failed", path, exc_info=True)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackupError(path, first_line) from None
