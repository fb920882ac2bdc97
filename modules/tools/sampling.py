"""Stand-alone sampling: render prompts from a base model, with or without LoRA files.

The base model stays loaded between renders (`ModelCache`, keyed by model type, base model, weight
dtype, embedding files and device); switching the LoRA only unwraps the adapter layers and wraps
new ones, so the base is read once. LoRA files go through the same readers and adapter code as
training's resume (`modules.formats.load_lora`, `MethodSetup`), so every adapter type and file
convention we train can be sampled. Each image is written with a JSON sidecar of its metadata.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.config.enums import DataType, ImageFormat, ModelType, PeftType, TrainingMethod
from modules.tools.task import ToolError, ToolTask

NO_LORA = ''


@dataclass(frozen=True)
class BaseModel:
    """What is loaded once and kept: the cache key."""

    model_type: ModelType
    base_model: str
    weight_dtype: DataType = DataType.FLOAT_32
    embeddings: tuple[str, ...] = ()
    device: str = 'cpu'
    text_encoder_layer_skip: int = 0


@dataclass
class Rendered:
    """One image of a render: where it lies, its metadata, and its place in the comparison grid."""

    path: Path
    metadata: dict[str, Any]
    row: int  # prompt index
    column: int  # LoRA index


@dataclass
class _Loaded:
    key: BaseModel
    family: Any
    model: Any
    config: Any
    lora: str = NO_LORA


def default_device() -> str:
    import torch

    return 'cuda' if torch.cuda.is_available() else 'cpu'


def usable_device(name: str) -> str:
    """`name`, or the CPU when it names a GPU this machine does not have."""
    import torch

    name = (name or '').strip() or default_device()
    return name if not name.startswith('cuda') or torch.cuda.is_available() else 'cpu'


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def embedding_placeholder(path: str, all_paths: tuple[str, ...] | list[str]) -> str:
    """A lone embedding answers to `<embedding>` (as OneTrainer's sample script); several to `<file name>`."""
    return '<embedding>' if len(all_paths) == 1 else f'<{Path(path).stem}>'


def _load_config(key: BaseModel):
    from modules.config.train_config import TrainConfig

    config = TrainConfig.default_values()
    config.model_type, config.training_method = key.model_type, TrainingMethod.FINE_TUNE
    config.base_model_name = key.base_model
    config.train_device = key.device
    config.text_encoder_layer_skip = key.text_encoder_layer_skip
    for part in key.model_type.model_parts():
        getattr(config, part).weight_dtype = key.weight_dtype
    config.additional_embeddings = []
    for path in key.embeddings:
        embedding = config.embedding.copy()
        embedding.model_name, embedding.train = path, False
        embedding.placeholder = embedding_placeholder(path, key.embeddings)
        config.additional_embeddings.append(embedding)
    return config


def check_base(key: BaseModel) -> None:
    """Refuse what cannot load before anything heavy starts."""
    from modules.families.parts.sources import is_local

    base = key.base_model.strip()
    if not base:
        raise ToolError('no base model given')
    looks_like_path = os.path.isabs(base) or base.startswith(('.', '~')) or base.count('/') > 1 or '\\' in base
    if looks_like_path and not is_local(base):
        raise ToolError(f'the base model {base} does not exist')
    for path in key.embeddings:
        if not Path(path).is_file():
            raise ToolError(f'the embedding file {path} does not exist')


def check_loras(loras: list[str]) -> None:
    for path in loras:
        if path != NO_LORA and not Path(path).exists():
            raise ToolError(f'the LoRA file {path} does not exist')


def adapter_type(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The adapter settings a file's tensors were trained with (peft type, DoRA, LoKr layout)."""
    keys = [key for state in parts.values() for key in state]
    if any('.hada_' in k for k in keys):
        return {'peft_type': PeftType.LOHA}
    if any('.lokr_' in k for k in keys):
        return {'peft_type': PeftType.LOKR, 'lokr_decompose_both': any('lokr_w1_a' in k for k in keys),
                'lokr_use_tucker': any('lokr_t2' in k for k in keys)}
    if any('.oft_' in k for k in keys):
        return {'peft_type': PeftType.OFT_2, **_oft_block_size(parts)}
    return {'peft_type': PeftType.LORA, 'lora_decompose': any('magnitude' in k for k in keys)}


def _oft_block_size(parts: dict[str, dict[str, Any]]) -> dict[str, int]:
    """A rotation of a b-wide block stores b(b-1)/2 numbers; the most common b is the one trained
    (peft fits the size to layers it does not divide)."""
    from collections import Counter

    sizes = Counter(round((1 + math.sqrt(1 + 8 * value.shape[-1])) / 2)
                    for state in parts.values() for key, value in state.items() if key.endswith('oft_R.weight'))
    return {'oft_block_size': sizes.most_common(1)[0][0]} if sizes else {}


class ModelCache:
    """One loaded base model, kept between renders; thread-safe (the UI renders in a worker)."""

    def __init__(self) -> None:
        self._loaded: _Loaded | None = None
        self.lock = threading.RLock()

    @property
    def key(self) -> BaseModel | None:
        return None if self._loaded is None else self._loaded.key

    @property
    def lora(self) -> str | None:
        return None if self._loaded is None else self._loaded.lora

    def clear(self) -> None:
        with self.lock:
            device = self._loaded.key.device if self._loaded is not None else 'cpu'
            self._loaded = None
            if device.startswith('cuda'):
                import torch

                torch.cuda.empty_cache()

    def try_clear(self) -> bool:
        """Unload unless a render holds the model now (never waits: the UI's event loop calls it)."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            self.clear()
        finally:
            self.lock.release()
        return True

    def model_for(self, key: BaseModel, task: ToolTask) -> _Loaded:
        with self.lock:
            if self._loaded is not None and self._loaded.key == key:
                return self._loaded
            self.clear()
            check_base(key)
            from modules.families import family_for
            from modules.train.methods import MethodSetup

            task.log(f'Loading {key.base_model} ({key.model_type.name}, {key.weight_dtype.name})')
            family = family_for(key.model_type)
            config = _load_config(key)
            try:
                model = family.load(key.base_model, config)
                if config.additional_embeddings:
                    MethodSetup(family, model, config)._load_embeddings()
                for module in model.modules().values():
                    module.to(key.device)
            except Exception as exc:  # noqa: BLE001 - any loading failure is the user's to fix
                raise ToolError(f'cannot load the base model {key.base_model}: {_first_line(exc)}') from exc
            self._loaded = _Loaded(key, family, model, config)
            return self._loaded

    def use_lora(self, loaded: _Loaded, lora: str, task: ToolTask) -> None:
        """Put `lora` (a file, or NO_LORA) on the loaded base, taking off the previous one."""
        with self.lock:
            if loaded.lora == lora:
                return
            _detach_adapters(loaded.model)
            loaded.lora = NO_LORA
            if lora == NO_LORA:
                return
            task.log(f'Applying {lora}')
            try:
                _attach_lora(loaded, lora)
            except Exception as exc:  # noqa: BLE001 - a file that does not fit the model is the user's to fix
                _detach_adapters(loaded.model)
                raise ToolError(f'cannot apply the LoRA {lora}: {_first_line(exc)}') from exc
            loaded.lora = lora


def _attach_lora(loaded: _Loaded, path: str) -> None:
    from modules.formats import load_lora
    from modules.train.methods import MethodSetup

    family, model = loaded.family, loaded.model
    config = loaded.config.copy()
    config.training_method, config.lora_model_name = TrainingMethod.LORA, path
    denoiser_config = dict(model[family.denoiser].config)
    file_parts = load_lora(path, family.keymap, denoiser_config=denoiser_config)
    settings = adapter_type(file_parts)
    attempts = [settings]
    if settings['peft_type'] == PeftType.LOKR:  # a fixed Kronecker factor shows as the most common w1 side
        attempts += [{**settings, 'lokr_decompose_factor': factor} for factor in _lokr_factors(file_parts)]
    parts = [p for p in family.text_encoders if p in model.components and family.facts.text_encoder(p).trainable]
    for part in (*parts, family.denoiser):
        getattr(config, part).train = False  # only what the file holds is wrapped
    for number, attempt in enumerate(attempts, start=1):
        for name, value in attempt.items():
            setattr(config, name, value)
        try:
            MethodSetup(family, model, config)._attach_adapters(parts)
            break
        except (RuntimeError, ValueError):
            _detach_adapters(model)
            if number == len(attempts):
                raise
    for part in model.adapters:
        model[part].to(loaded.key.device)


def _lokr_factors(parts: dict[str, dict[str, Any]]) -> list[int]:
    from collections import Counter

    sides = Counter(side for state in parts.values() for key, value in state.items()
                    if key.endswith('lokr_w1') for side in value.shape)
    return [side for side, _ in sides.most_common(2) if side > 1]


def _detach_adapters(model) -> None:
    """Swap every adapter layer back for the layer it wraps: the base model as it was loaded."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules().values():  # every part: an attach that failed half-way wrapped some
        wrapped = [(name, sub) for name, sub in module.named_modules() if isinstance(sub, BaseTunerLayer)]
        for name, sub in wrapped:
            parent_name, _, child = name.rpartition('.')
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, child, sub.get_base_layer())
        if hasattr(module, 'peft_config'):
            del module.peft_config
    model.adapters.clear()


def resolved_samples(samples: list) -> list:
    """Copies with a fixed seed, so the same prompt gets the same noise under every LoRA."""
    import random

    fixed = []
    for sample in samples:
        sample = sample.copy()
        if sample.random_seed:
            sample.seed, sample.random_seed = random.randrange(2**31 - 1), False
        fixed.append(sample)
    return fixed


def render_one(cache: ModelCache, key: BaseModel, lora: str, sample, task: ToolTask, on_step=None):
    """(image, metadata) of one prompt under one LoRA."""
    loaded = cache.model_for(key, task)
    with cache.lock:
        cache.use_lora(loaded, lora, task)
        sample = sample.copy()
        sample.text_encoder_1_layer_skip = key.text_encoder_layer_skip
        started = time.perf_counter()
        try:
            image = loaded.family.sample(loaded.model, sample, on_step=on_step)
        except Exception as exc:  # noqa: BLE001 - e.g. a size the model cannot render
            raise ToolError(f'sampling failed: {_first_line(exc)}') from exc
        seconds = time.perf_counter() - started
    if isinstance(image, (list, tuple)):  # a video model's clip: its first frame stands for it here
        image = image[0]
    metadata = {
        'prompt': sample.prompt, 'negative_prompt': sample.negative_prompt, 'seed': int(sample.seed),
        'steps': int(sample.diffusion_steps), 'cfg_scale': float(sample.cfg_scale),
        'sampler': sample.noise_scheduler.name, 'width': int(sample.width), 'height': int(sample.height),
        'model_type': key.model_type.name, 'base_model': key.base_model, 'weight_dtype': key.weight_dtype.name,
        'lora': lora, 'embeddings': list(key.embeddings), 'device': key.device,
        'seconds': round(seconds, 3), 'created': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
    }
    return image, metadata


def save_image(image, metadata: dict, path: Path, fmt: ImageFormat = ImageFormat.PNG) -> Path:
    """The image and its `.json` sidecar, each written to a temporary file and renamed into place."""
    from modules.config.files import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    os.close(fd)
    try:
        image.convert('RGB').save(tmp, format=fmt.pil_format())
        os.chmod(tmp, 0o644)  # a temporary file is private; the image is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_json(path.with_suffix('.json'), {**metadata, 'file': path.name})
    return path


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r'[^A-Za-z0-9]+', '-', text).strip('-')[:limit] or 'sample'


def _free_path(path: Path) -> Path:
    """`path`, or the first `name-N` beside it that is not taken (an earlier render is never overwritten)."""
    candidate, number = path, 1
    while candidate.exists():
        candidate, number = path.with_name(f'{path.stem}-{number}{path.suffix}'), number + 1
    return candidate


def render_grid(task: ToolTask, cache: ModelCache, key: BaseModel, loras: list[str], samples: list,
                out_dir: str | os.PathLike) -> list[Rendered]:
    """Every prompt under every LoRA (NO_LORA = the base alone), LoRA by LoRA so each is applied once."""
    if not samples:
        raise ToolError('no prompt to render')
    if not loras:
        loras = [NO_LORA]
    check_base(key)
    check_loras(loras)
    samples = resolved_samples(samples)
    out_dir = Path(out_dir)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    total, results = len(loras) * len(samples), []
    task.step(0, total)
    for column, lora in enumerate(loras):
        for row, sample in enumerate(samples):
            task.check()
            image, metadata = render_one(cache, key, lora, sample, task)
            lora_name = _slug(Path(lora).stem, 20) if lora else 'base'
            path = _free_path(out_dir / f'{stamp}-{row:02d}-{column:02d}-{lora_name}-{_slug(sample.prompt)}.png')
            save_image(image, metadata, path)
            task.log(f'{path.name}: {metadata["seconds"]:.1f} s')
            results.append(Rendered(path, metadata, row, column))
            task.step(len(results), total)
    return results


def recent_samples(out_dir: str | os.PathLike, limit: int = 24) -> list[tuple[Path, dict[str, Any]]]:
    """The newest images in `out_dir` that have a readable sidecar, newest first."""
    import json

    found = []
    for sidecar in Path(out_dir).glob('*.json'):
        try:
            metadata = json.loads(sidecar.read_text(encoding='utf-8'))
            image = sidecar.with_name(str(metadata['file']))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a sidecar someone else wrote or broke is not ours to show
        if image.is_file():
            found.append((image.stat().st_mtime, image, metadata))
    found.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    return [(image, metadata) for _, image, metadata in found[:limit]]


MODEL_CACHE = ModelCache()  # the process's loaded sampling model, shared by the UI's renders

