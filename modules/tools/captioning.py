"""Batch captioning: every image of a folder gets `<stem>.txt` from a captioning model.

Models: BLIP and BLIP-2 (transformers, can continue an initial caption), Florence-2 (transformers,
a detailed caption) and the WD14 tagger (an ONNX model with its tags CSV, run by onnxruntime).
Images go through the model in batches. Modes: `replace` writes every caption, `fill` only those
missing, `add` appends the new caption as a new line.
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from modules.tools.background_writer import BackgroundWriter
from modules.tools.image_folder import check_readable, folder_images, loaded_batches
from modules.tools.pretrained import load_failure, model_folder, onnx_providers, torch_device_and_dtype
from modules.tools.task import ToolError, ToolTask

MODES = {'replace': 'Replace all captions', 'fill': 'Create if absent', 'add': 'Add as new line'}


@dataclass(frozen=True)
class CaptionModelInfo:
    title: str
    default_model: str
    takes_initial_caption: bool


MODELS: dict[str, CaptionModelInfo] = {
    'BLIP': CaptionModelInfo('Blip', 'Salesforce/blip-image-captioning-large', True),
    'BLIP2': CaptionModelInfo('Blip2', 'Salesforce/blip2-opt-2.7b', True),
    'WD14_VIT_2': CaptionModelInfo('WD14 VIT v2', 'SmilingWolf/wd-v1-4-vit-tagger-v2', False),
    'FLORENCE_2': CaptionModelInfo('Florence-2', 'florence-community/Florence-2-base', False),
}


@dataclass
class CaptionRequest:
    model: str
    folder: str
    model_name: str = ''  # a local folder or hub name; '' = the model's usual checkpoint
    initial_caption: str = ''
    prefix: str = ''
    postfix: str = ''
    mode: str = 'fill'
    include_subdirectories: bool = False
    device: str = ''  # '' = the GPU when there is one
    dtype: str = 'FLOAT_16'
    batch_size: int = 8
    max_new_tokens: int = 50
    general_threshold: float = 0.35  # WD14: a general tag is kept above this score
    character_threshold: float = 0.85  # WD14: a character tag is kept above this score


Captioner = Callable[[list[Image.Image], str], list[str]]


def caption_path(image: Path) -> Path:
    return image.with_suffix('.txt')


def _read_caption(path: Path) -> str:
    try:
        return path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(f'cannot read the caption {path}: {exc}') from exc


def new_caption_text(existing: str | None, caption: str, mode: str) -> str | None:
    """The file's new text, or None to leave it as it is."""
    if existing is None or mode == 'replace':
        return caption
    if mode == 'fill':
        return None
    return f'{existing.rstrip(chr(10))}\n{caption}' if existing.strip() else caption


class TransformersCaptioner:
    """BLIP, BLIP-2 and Florence-2: processor, then `generate` on a whole batch at once."""

    def __init__(self, model_key: str, name: str, request: CaptionRequest):
        import torch
        import transformers

        self.device, self.dtype = torch_device_and_dtype(request.device, request.dtype)
        self.model_key, self.max_new_tokens = model_key, request.max_new_tokens
        model_class = {'BLIP': transformers.BlipForConditionalGeneration,
                       'BLIP2': transformers.Blip2ForConditionalGeneration,
                       'FLORENCE_2': transformers.Florence2ForConditionalGeneration}[model_key]
        folder = model_folder(name)
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(folder)
            self.model = model_class.from_pretrained(folder, dtype=self.dtype).to(self.device).eval()
        except Exception as exc:  # noqa: BLE001 - any loading failure is reported in one line
            raise load_failure(name, exc) from exc
        self._torch = torch

    def prompt(self, initial: str) -> str | None:
        if self.model_key == 'FLORENCE_2':
            return '<MORE_DETAILED_CAPTION>'
        if self.model_key == 'BLIP2':
            return initial  # even empty: the processor then puts the query tokens before the text
        return initial or None

    def __call__(self, images: list[Image.Image], initial: str) -> list[str]:
        prompt = self.prompt(initial)
        texts = None if prompt is None else [prompt] * len(images)
        inputs = self.processor(images=images, text=texts, return_tensors='pt')
        inputs = {k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                  for k, v in inputs.items()}
        with self._torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        captions = [c.strip() for c in self.processor.batch_decode(output, skip_special_tokens=True)]
        return [with_initial(c, initial) for c in captions]


def with_initial(caption: str, initial: str) -> str:
    """The caption starting with the initial caption (some models return only what they added)."""
    if not initial or caption.lower().startswith(initial.strip().lower()):
        return caption
    return f'{initial.strip()} {caption}'.strip()


class WD14Tagger:
    """The WD14 tagger: a square BGR image in 0..255 in, one score per tag of its CSV out."""

    GENERAL, CHARACTER = 0, 4  # tag categories of selected_tags.csv (9 = rating, never written)

    def __init__(self, name: str, request: CaptionRequest):
        import onnxruntime

        folder = model_folder(name)
        model_file = folder if folder.is_file() else folder / 'model.onnx'
        tags_file = model_file.parent / 'selected_tags.csv'
        for needed in (model_file, tags_file):
            if not needed.is_file():
                raise ToolError(f'the model {name} has no {needed.name}')
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), providers=onnx_providers(request.device))
            with tags_file.open(encoding='utf-8', newline='') as handle:
                self.tags = [(row['name'], int(row['category'])) for row in csv.DictReader(handle)]
        except Exception as exc:  # noqa: BLE001 - a broken ONNX file or CSV is reported in one line
            raise load_failure(name, exc) from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = model_input.shape[1] if isinstance(model_input.shape[1], int) else 448
        self.fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None
        self.thresholds = {self.GENERAL: request.general_threshold, self.CHARACTER: request.character_threshold}

    def _array(self, image: Image.Image):
        import numpy as np

        side = max(image.size)
        square = Image.new('RGB', (side, side), (255, 255, 255))
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        square = square.resize((self.size, self.size), Image.Resampling.BICUBIC)
        return np.asarray(square, dtype=np.float32)[:, :, ::-1]  # the tagger was trained on BGR

    def __call__(self, images: list[Image.Image], initial: str) -> list[str]:
        import numpy as np

        arrays = np.stack([self._array(image) for image in images])
        step = self.fixed_batch or len(arrays)
        scores = np.concatenate([self.session.run(None, {self.input_name: arrays[i:i + step]})[0]
                                 for i in range(0, len(arrays), step)])
        return [self._tags(row) for row in scores]

    def _tags(self, scores) -> str:
        found = []
        for category in (self.CHARACTER, self.GENERAL):
            kept = [(float(score), name) for (name, cat), score in zip(self.tags, scores, strict=False)
                    if cat == category and score > self.thresholds[category]]
            found += [name.replace('_', ' ') for _, name in sorted(kept, reverse=True)]
        return ', '.join(found)


def load_captioner(request: CaptionRequest) -> Captioner:
    info = MODELS[request.model]
    name = request.model_name.strip() or info.default_model
    if request.model == 'WD14_VIT_2':
        return WD14Tagger(name, request)
    return TransformersCaptioner(request.model, name, request)


def _check(request: CaptionRequest) -> tuple[list[Path], dict[Path, str | None]]:
    if request.model not in MODELS:
        raise ToolError(f'unknown captioning model {request.model!r}: one of {", ".join(MODELS)}')
    if request.mode not in MODES:
        raise ToolError(f'unknown mode {request.mode!r}: one of {", ".join(MODES)}')
    if request.initial_caption and not MODELS[request.model].takes_initial_caption:
        raise ToolError(f'{MODELS[request.model].title} does not continue an initial caption: leave it empty')
    if request.batch_size < 1:
        raise ToolError('the batch size must be at least 1')
    _, images = folder_images(request.folder, request.include_subdirectories)
    existing = {image: (_read_caption(caption_path(image)) if caption_path(image).is_file() else None)
                for image in images}
    if request.mode == 'fill':
        images = [image for image in images if existing[image] is None]
    check_readable(images)
    return images, existing


def generate_captions(task: ToolTask, request: CaptionRequest, captioner: Captioner | None = None) -> int:
    """Caption the folder's images; returns how many caption files were written."""
    images, existing = _check(request)
    if not images:
        task.log('No image needs a caption.')
        task.step(0, 0)
        return 0
    task.log(f'{len(images)} images to caption with {MODELS[request.model].title}.')
    if captioner is None:
        task.log('Loading the model …')
        captioner = load_captioner(request)
    written = 0
    # The captions of a batch are written (each with its fsync) by a background thread while the model
    # captions the next batch; leaving the block waits for them, so a cancel or an error keeps every
    # caption already made, and a failed write stops the run.
    with BackgroundWriter() as writer:
        done = 0
        for batch, loaded in loaded_batches(images, request.batch_size):
            task.check()
            captions = captioner(loaded, request.initial_caption)
            files = []
            for path, caption in zip(batch, captions, strict=True):
                text = new_caption_text(existing[path], f'{request.prefix}{caption}{request.postfix}', request.mode)
                if text is not None:
                    files.append((caption_path(path), text))
                    task.log(f'{path.name}: {caption}')
            writer.put(files)
            written += len(files)
            done += len(batch)
            task.step(done, len(images))
    return written
