"""TrainDataset: concepts -> deterministic, single-bucket batches (cached or computed inline)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from . import cache, token_sequences
from .hub_dataset import concept_folder
from .rng import enum_name
from .sample import SamplePipeline, single_frame
from .sampler import Draw, epoch_draws, make_batches, samples_per_epoch
from .scan import Item, scan_concept

ENCODE_CHUNK = 4  # samples per encoder call while filling the cache
MEMORY_CACHE_BYTES = 1 << 30  # cached latents and text encodings kept in memory after their first read

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One bucket's samples. Video models get clips: pixels (B, 3, F, H, W) and masks (B, 1, F, H, W),
    every clip of the batch with the same frame count F (a still image is a one-frame clip)."""

    pixels: Tensor | None  # (B, 3, H, W) in [-1, 1]; None when latents come from the cache
    latents: Tensor | None  # (B, C, h, w) cached latents, else None
    masks: Tensor | None  # (B, 1, H, W) in [0, 1] when masks are on
    prompts: list[str]
    text: dict[str, Tensor] | None  # cached text encodings, stacked per key
    image_paths: list[str]
    concept_names: list[str]
    loss_weights: Tensor | None  # (B,) concept loss_weight per sample; None when every one is 1
    resolution: tuple[int, int]  # (H, W) in pixels
    concept_types: list[str] = field(default_factory=list)
    original_sizes: list[tuple[int, int]] = field(default_factory=list)  # (h, w) before scaling
    crop_offsets: list[tuple[int, int]] = field(default_factory=list)  # (top, left) of the crop
    frames: int = 1  # frames per clip (video models)
    conditioning_pixels: Tensor | None = None  # (B, 3, H, W) custom inpainting conditioning images

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass
class _Group:
    concept: object
    items: list[Item]
    samples: int  # per epoch, after balancing
    pipeline: SamplePipeline
    image_hash: str
    text_hash: str
    fingerprint: list


class TrainDataset:
    def __init__(self, train_config, concepts, *,
                 encode_images: Callable[[Tensor], Tensor] | None = None,
                 encode_prompts: Callable[[list[str]], dict[str, Tensor]] | None = None,
                 latent_scale: int = 8,
                 concept_type="STANDARD",
                 with_masks: bool | None = None,
                 frame_count: Callable[[int, int], int] = single_frame,
                 on_warning: Callable[[str], None] | None = None,
                 token_sequences: Sequence = (),
                 image_producer: list | None = None,
                 text_producer: list | None = None):
        """latent_scale is the bucket quantum in pixels: every bucket side is a multiple of it.
        concept_type VALIDATION selects validation concepts, anything else all the others.
        with_masks overrides train_config.masked_training (e.g. for mask-input models).
        For video model types, frame_count(available, target) is the frame count of a clip with
        `available` frames when train_config.frames asks for `target`.
        on_warning receives a line for each file that is skipped (unreadable, too short).
        token_sequences are the text tensors the text cache keeps at each caption's own length (the
        family's `token_sequences`: keys, length entry, padding).
        image_producer and text_producer describe what encodes the images and the captions (model,
        encoder settings, weight dtypes; JSON-able lists): a cache written by another producer is
        written anew.

        Only a training dataset acts on clear_cache_before_training (a validation dataset shares
        the cache folder and must not wipe it); prepare the training dataset first."""
        self.config = train_config
        want_validation = enum_name(concept_type) == "VALIDATION"
        self.clears_cache = not want_validation
        self.concepts = [c for c in concepts
                         if bool(c.enabled) and (enum_name(c.type) == "VALIDATION") == want_validation]
        self.encode_images = encode_images
        self.encode_prompts = encode_prompts
        self.quantum = int(latent_scale)
        self.with_masks = bool(train_config.masked_training) if with_masks is None else bool(with_masks)
        self.video = _is_video_model(train_config)
        self.frame_count = frame_count
        self.on_warning = on_warning or (lambda text: log.warning(text))
        # custom inpainting conditioning images: only for model types that take an inpainting mask
        self.with_conditioning = bool(getattr(train_config, "custom_conditioning_image", False)) and \
            _has_mask_input(train_config)
        caching = bool(train_config.latent_caching)
        self.cache_images = caching and encode_images is not None
        self.cache_text = caching and encode_prompts is not None
        self.cache_dir = Path(train_config.cache_dir)
        self.token_sequences = tuple(token_sequences)
        self.image_producer = cache.json_plain(image_producer or [])
        self.text_producer = cache.json_plain(text_producer or [])
        self.threads = max(1, int(getattr(train_config, "dataloader_threads", 1) or 1))
        self._groups: list[_Group] | None = None
        self._cleared = False
        self._aggregates: dict[Path, list[dict]] = {}
        self._in_memory: dict[tuple[Path, int], dict] = {}
        self._memory_bytes = 0
        self._memory_lock = threading.Lock()
        self._plan_key: tuple[int, int] | None = None
        self._dirs: dict[tuple[str, int, int], Path] = {}
        self._plan: list[list[Draw]] = []

    # --- setup ----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Scan the concepts and fill what the first epoch needs of the cache. Idempotent."""
        if self.clears_cache and bool(self.config.latent_caching) \
                and bool(self.config.clear_cache_before_training) and not self._cleared:
            cache.clear_cache(self.cache_dir)
            self._aggregates.clear()
            self._forget()
        self._cleared = True
        if self._groups is None:
            self._groups = [self._scan(concept) for concept in self.concepts]
        self._ensure_cached(epoch_draws(self._file_counts(), self._sample_counts(), 0))

    def _scan(self, concept) -> _Group:
        root = concept_folder(str(concept.path), getattr(self.config, "huggingface_cache_dir", "") or None)
        found = scan_concept(concept, with_masks=self.with_masks, videos=self.video,
                             with_conditioning=self.with_conditioning, root=root)
        frames = str(self.config.frames) if self.video else "1"
        pipeline = SamplePipeline(concept, str(self.config.resolution),
                                  bucketing=bool(self.config.aspect_ratio_bucketing),
                                  quantum=self.quantum, with_masks=self.with_masks,
                                  video=self.video, frames=frames, frame_count=self.frame_count)
        items = self._readable(concept, found, pipeline)
        files = []
        for item in items:
            files.append([str(item.path), *_stamp(item.path), *(_stamp(item.mask_path) if item.mask_path else []),
                          *(_stamp(item.conditioning_path) if item.conditioning_path else [])])
        fingerprint = [files, str(self.config.resolution), bool(self.config.aspect_ratio_bucketing),
                       self.quantum, self.with_masks]
        if self.video:
            fingerprint.append(["video", frames])
        if self.with_conditioning:
            fingerprint.append("conditioning")
        if self.image_producer:
            fingerprint.append(["producer", self.image_producer])
        return _Group(concept, items,
                      samples_per_epoch(len(items), concept.balancing, concept.balancing_strategy),
                      pipeline, cache.group_hash(concept, "image"), cache.group_hash(concept, "text"),
                      fingerprint)

    def _readable(self, concept, items: list[Item], pipeline: SamplePipeline) -> list[Item]:
        """The items whose files can be read, renumbered; each skipped file is named in a warning.
        A concept none of whose files can be read is an error, as an empty one would be."""
        def check(item: Item) -> str | None:
            try:
                pipeline.probe(item)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped, never the run
                return f"{item.path}: {_first_line(exc)}" if str(item.path) not in str(exc) else _first_line(exc)
            return None

        with ThreadPoolExecutor(self.threads) as pool:
            problems = list(pool.map(check, items))
        for problem in problems:
            if problem is not None:
                self.on_warning(f"skipped the training file {problem}")
        readable = [item for item, problem in zip(items, problems, strict=True) if problem is None]
        if items and not readable:
            raise ValueError(f"concept {concept.name or concept.path!r}: no training images could be read "
                             f"from {concept.path} ({len(items)} unreadable files)")
        for index, item in enumerate(readable):
            item.index = index
        return readable

    @property
    def groups(self) -> list[_Group]:
        if self._groups is None:
            raise RuntimeError("call prepare() first")
        return self._groups

    def _file_counts(self) -> list[int]:
        return [len(g.items) for g in self.groups]

    def _sample_counts(self) -> list[int]:
        return [g.samples for g in self.groups]

    def __len__(self) -> int:
        return sum(self._sample_counts())

    # --- variations -----------------------------------------------------------------------------
    def _image_variation(self, draw: Draw) -> int:
        if self.cache_images:
            return draw.cycle % max(1, int(self.groups[draw.group].concept.image_variations))
        return draw.cycle

    def _text_variation(self, draw: Draw) -> int:
        if self.cache_text:
            return draw.cycle % max(1, int(self.groups[draw.group].concept.text_variations))
        return draw.cycle

    def _image_dir(self, group: int, variation: int) -> Path:
        return self._variation_dir("image", group, variation)

    def _text_dir(self, group: int, variation: int) -> Path:
        return self._variation_dir("text", group, variation)

    def _variation_dir(self, part: str, group: int, variation: int) -> Path:
        """Asked for every sample of every step: built once (a Path costs more than the look-up it keys)."""
        key = (part, group, variation)
        directory = self._dirs.get(key)
        if directory is None:
            fingerprint = self.groups[group].image_hash if part == "image" else self.groups[group].text_hash
            directory = self._dirs[key] = cache.variation_dir(self.cache_dir, part, fingerprint, variation)
        return directory

    # --- epochs ---------------------------------------------------------------------------------
    def _batches(self, epoch: int, batch_size: int) -> list[list[Draw]]:
        if self._plan_key != (epoch, batch_size):
            draws = epoch_draws(self._file_counts(), self._sample_counts(), epoch)
            self._ensure_cached(draws)
            self._plan = make_batches(draws, self._bucket, batch_size, epoch)
            self._plan_key = (epoch, batch_size)
        return self._plan

    @staticmethod
    def _shard(batches: list[list[Draw]], shard: tuple[int, int]) -> list[list[Draw]]:
        """Batches rank, rank + n, rank + 2n ... of the whole ones: every process gets as many."""
        rank, processes = shard
        if processes <= 1:
            return batches
        return batches[:len(batches) - len(batches) % processes][rank::processes]

    def _bucket(self, draw: Draw) -> tuple[int, ...]:
        """(h, w) of the draw's sample, plus its frame count for video models."""
        variation = self._image_variation(draw)
        if self.cache_images:
            info = self._aggregate(self._image_dir(draw.group, variation))[draw.item]
            resolution = tuple(info["resolution"])
            return (*resolution, int(info.get("frames", 1))) if self.video else resolution
        group = self.groups[draw.group]
        return group.pipeline.bucket(group.items[draw.item], variation)

    def batches_per_epoch(self, batch_size: int, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> int:
        return len(self._shard(self._batches(epoch, batch_size), shard))

    def epoch(self, epoch: int, batch_size: int, start_batch: int = 0,
              shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        """The batches of an epoch; the same for the same (epoch, batch_size) in every run.
        `shard` (rank, processes): this process's batches of a multi-process run, and `start_batch`
        counts them."""
        batches = self._shard(self._batches(epoch, batch_size), shard)[max(0, start_batch):]
        self._ensure_cached([draw for batch in batches for draw in batch])  # refill a cache cleared meanwhile
        with _LazyPool(self.threads) as pool:
            pending: deque = deque()
            for batch in batches:
                pending.append([self._loading(pool, draw) for draw in batch])
                if len(pending) > 1:  # keep one batch loading ahead
                    yield self._collate([f.result() for f in pending.popleft()])
            while pending:
                yield self._collate([f.result() for f in pending.popleft()])

    # --- samples --------------------------------------------------------------------------------
    def _loading(self, pool: _LazyPool, draw: Draw) -> Future | _Loaded:
        """The draw's sample, loaded by a worker thread; one whose cached tensors are all in memory is
        loaded right here: the look-up costs less than the hand-over to a worker and back, which on a
        busy machine waits for a CPU."""
        if not self._in_memory_draw(draw):
            return pool.submit(self._load, draw)
        try:
            return _Loaded(self._load(draw))
        except Exception as exc:  # noqa: BLE001 - raised where the worker's would be: at its batch
            return _Loaded(error=exc)

    def _in_memory_draw(self, draw: Draw) -> bool:
        if not (self.cache_images and self.cache_text):
            return False
        index = self.groups[draw.group].items[draw.item].index
        return ((self._image_dir(draw.group, self._image_variation(draw)), index) in self._in_memory
                and (self._text_dir(draw.group, self._text_variation(draw)), index) in self._in_memory)

    def _load(self, draw: Draw) -> dict:
        group = self.groups[draw.group]
        item = group.items[draw.item]
        out = {"group": group, "item": item}
        variation = self._image_variation(draw)
        if self.cache_images:
            directory = self._image_dir(draw.group, variation)
            info = self._aggregate(directory)[item.index]
            tensors = self._cached_item(directory, item.index)
            out["latent"] = tensors["latent"]
            out["mask"] = tensors["mask"].float() / 255.0 if "mask" in tensors else None
            out.update(resolution=tuple(info["resolution"]), original_size=tuple(info["original_size"]),
                       crop_offset=tuple(info["crop_offset"]), frames=int(info.get("frames", 1)))
        else:
            sample = group.pipeline.image_sample(item, variation)
            geometry = sample.geometry
            out.update(pixels=sample.pixels, mask=sample.mask, resolution=geometry.resolution,
                       original_size=geometry.original_size, crop_offset=geometry.crop_offset,
                       frames=sample.frames, conditioning=sample.conditioning)
        text_variation = self._text_variation(draw)
        if self.cache_text:
            directory = self._text_dir(draw.group, text_variation)
            out["prompt"] = self._aggregate(directory)[item.index]["prompt"]
            out["text"] = self._cached_item(directory, item.index)
        else:
            out["prompt"] = group.pipeline.prompt(item, text_variation)
        return out

    def _collate(self, samples: list[dict]) -> Batch:
        first = samples[0]
        masks = [s["mask"] for s in samples]
        text = None
        if self.cache_text:
            text = token_sequences.collated([s["text"] for s in samples], self.token_sequences)
        conditioning = None
        if any(s.get("conditioning") is not None for s in samples):
            # samples without a -condlabel file keep the generated conditioning: the masked image
            conditioning = torch.stack([_conditioning_or_masked(s) for s in samples])
        return Batch(
            pixels=torch.stack([s["pixels"] for s in samples]) if "pixels" in first else None,
            latents=torch.stack([s["latent"] for s in samples]) if "latent" in first else None,
            masks=torch.stack(masks) if self.with_masks else None,
            prompts=[s["prompt"] for s in samples],
            text=text,
            image_paths=[str(s["item"].path) for s in samples],
            concept_names=[str(s["group"].concept.name) for s in samples],
            loss_weights=_loss_weights(samples),
            resolution=tuple(first["resolution"]),
            concept_types=[enum_name(s["group"].concept.type) for s in samples],
            original_sizes=[tuple(s["original_size"]) for s in samples],
            crop_offsets=[tuple(s["crop_offset"]) for s in samples],
            frames=int(first["frames"]),
            conditioning_pixels=conditioning,
        )

    # --- cache ----------------------------------------------------------------------------------
    def _cached_item(self, directory: Path, index: int) -> dict:
        """A cached sample's tensors; the first MEMORY_CACHE_BYTES of them stay in memory, so a
        dataset that fits is read from disk once, not on every step of every epoch."""
        key = (directory, index)
        tensors = self._in_memory.get(key)
        if tensors is None:
            tensors = cache.read_item(directory, index)
            size = sum(t.nbytes for t in tensors.values() if isinstance(t, torch.Tensor))
            with self._memory_lock:
                if self._memory_bytes + size <= MEMORY_CACHE_BYTES:
                    self._in_memory[key] = tensors
                    self._memory_bytes += size
        return tensors

    def _forget(self, directory: Path | None = None) -> None:
        """Drop the in-memory copies of a variation written anew (all of them without `directory`)."""
        with self._memory_lock:
            for key in [k for k in self._in_memory if directory is None or k[0] == directory]:
                tensors = self._in_memory.pop(key)
                self._memory_bytes -= sum(t.nbytes for t in tensors.values() if isinstance(t, torch.Tensor))

    def _aggregate(self, directory: Path) -> list[dict]:
        return self._aggregates[directory]

    def _ensure_cached(self, draws: list[Draw]) -> None:
        needed_images = sorted({(d.group, self._image_variation(d)) for d in draws}) if self.cache_images else []
        needed_text = sorted({(d.group, self._text_variation(d)) for d in draws}) if self.cache_text else []
        for group, variation in needed_images:
            self._fill_images(group, variation)
        for group, variation in needed_text:
            self._fill_text(group, variation)

    def _fill_images(self, group_index: int, variation: int) -> None:
        directory = self._image_dir(group_index, variation)
        if directory in self._aggregates and (directory / "aggregate.pt").is_file():
            return
        group = self.groups[group_index]
        items = cache.read_aggregate(directory, group.fingerprint)
        if items is None:
            items = self._encode_images(group, variation, directory)
            self._forget(directory)
        self._aggregates[directory] = items

    def _encode_images(self, group: _Group, variation: int, directory: Path) -> list[dict]:
        infos: list[dict] = [{} for _ in group.items]
        with ThreadPoolExecutor(self.threads) as pool:
            samples = _bounded_map(pool, lambda item: (item, group.pipeline.image_sample(item, variation)),
                                   group.items, window=2 * self.threads + ENCODE_CHUNK)
            by_resolution: dict[tuple[int, int], list] = {}
            for item, sample in samples:
                geometry = sample.geometry
                infos[item.index] = {"resolution": list(geometry.resolution), "image_path": str(item.path),
                                     "original_size": list(geometry.original_size),
                                     "crop_offset": list(geometry.crop_offset), "frames": sample.frames}
                shape = tuple(sample.pixels.shape)  # an encoder call takes samples of one size and frame count
                chunk = by_resolution.setdefault(shape, [])
                chunk.append((item, sample))
                if len(chunk) == ENCODE_CHUNK:
                    self._encode_chunk(by_resolution.pop(shape), directory)
            for chunk in by_resolution.values():
                self._encode_chunk(chunk, directory)
        cache.write_aggregate(directory, group.fingerprint, infos)
        return infos

    def _encode_chunk(self, chunk: list, directory: Path) -> None:
        with torch.no_grad():
            latents = self.encode_images(torch.stack([sample.pixels for _, sample in chunk]))
        for (item, sample), latent in zip(chunk, latents, strict=True):
            tensors = {"latent": latent.detach().cpu().clone()}
            if sample.mask is not None:
                tensors["mask"] = (sample.mask * 255.0).round().to(torch.uint8)
            cache.write_item(directory, item.index, tensors)

    def _fill_text(self, group_index: int, variation: int) -> None:
        directory = self._text_dir(group_index, variation)
        if directory in self._aggregates and (directory / "aggregate.pt").is_file():
            return
        group = self.groups[group_index]
        prompts = [group.pipeline.prompt(item, variation) for item in group.items]
        fingerprint = [[str(item.path) for item in group.items], prompts]
        if self.token_sequences:  # a cache written at the full length is written anew, cut
            fingerprint.append(["own tokens", [[list(s.keys), s.length, s.padding] for s in self.token_sequences]])
        if self.text_producer:
            fingerprint.append(["producer", self.text_producer])
        items = cache.read_aggregate(directory, fingerprint)
        if items is None:
            for start in range(0, len(prompts), ENCODE_CHUNK):
                with torch.no_grad():
                    encoded = self.encode_prompts(prompts[start:start + ENCODE_CHUNK])
                for offset in range(len(prompts[start:start + ENCODE_CHUNK])):
                    own = token_sequences.own_tokens({key: value[offset] for key, value in encoded.items()},
                                                     self.token_sequences)
                    # cloned: a saved view would write the whole batch's storage
                    cache.write_item(directory, start + offset,
                                     {key: value.detach().cpu().clone() for key, value in own.items()})
            items = [{"prompt": prompt} for prompt in prompts]
            cache.write_aggregate(directory, fingerprint, items)
            self._forget(directory)
        self._aggregates[directory] = items


class _Loaded:
    """A sample loaded on the spot, read like the `Future` of one loaded by a worker (without the
    future's lock and condition, which a step would make and drop for every sample)."""

    __slots__ = ("_sample", "_error")

    def __init__(self, sample: dict | None = None, error: Exception | None = None):
        self._sample, self._error = sample, error

    def result(self) -> dict:
        if self._error is not None:
            raise self._error
        return self._sample


def _loss_weights(samples: list[dict]) -> Tensor | None:
    weights = [float(s["group"].concept.loss_weight) for s in samples]
    return None if all(w == 1 for w in weights) else torch.tensor(weights)


class _LazyPool:
    """A thread pool started by its first task: an epoch whose samples are all in memory needs none."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn, *args) -> Future:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads)
        return self._pool.submit(fn, *args)

    def __enter__(self) -> _LazyPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _bounded_map(pool: ThreadPoolExecutor, fn, values, window: int):
    """pool.map that keeps at most `window` results in memory (loading may outrun encoding)."""
    pending: deque = deque()
    for value in values:
        pending.append(pool.submit(fn, value))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _conditioning_or_masked(sample: dict) -> Tensor:
    if sample.get("conditioning") is not None:
        return sample["conditioning"]
    pixels, mask = sample["pixels"], sample["mask"]
    return pixels * (1 - mask) if mask is not None else pixels


def _is_video_model(config) -> bool:
    from modules.config.enums import ModelType

    try:
        return ModelType(enum_name(config.model_type)).is_video_model()
    except ValueError:
        return False


def _has_mask_input(config) -> bool:
    from modules.config.enums import ModelType

    try:
        return ModelType(enum_name(config.model_type)).has_mask_input()
    except ValueError:
        return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]
