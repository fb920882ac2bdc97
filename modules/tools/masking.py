"""Batch masking: every image of a folder gets `<stem>-masklabel.png` (white = train).

A model scores each pixel in 0..1 for the prompts: ClipSeg (text prompts), Rembg (the foreground,
an ONNX u2net model run by the `rembg` package), a semantic segmentation model of transformers
(prompts are its label names) or a hex colour (no model; the threshold is the colour tolerance).
The score is cut at the threshold, grown by `expand` pixels and softened over `smooth` pixels, then
combined with the existing mask by the mode: replace, fill (only images without a mask), add,
subtract or blend, the last three weighted by alpha.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from modules.tools.image_folder import batches, check_readable, folder_images, load_rgb, save_png_atomic
from modules.tools.pretrained import load_failure, model_folder, onnx_providers, torch_device_and_dtype
from modules.tools.task import ToolError, ToolTask

MODES = {'replace': 'Replace all masks', 'fill': 'Create if absent', 'add': 'Add to existing',
         'subtract': 'Subtract from existing', 'blend': 'Blend with existing'}


@dataclass(frozen=True)
class MaskModelInfo:
    title: str
    default_model: str  # '' = no weights
    prompt_hint: str


MODELS: dict[str, MaskModelInfo] = {
    'CLIPSEG': MaskModelInfo('ClipSeg', 'CIDAS/clipseg-rd64-refined', 'what to mask, e.g. "a cat"'),
    'REMBG': MaskModelInfo('Rembg', 'u2net', 'not used (the foreground is masked)'),
    'REMBG_HUMAN': MaskModelInfo('Rembg-Human', 'u2net_human_seg', 'not used (people are masked)'),
    'COLOR': MaskModelInfo('Hex Color', '', 'a colour such as #FF0000'),
    'SEGMENTATION': MaskModelInfo('Segmentation (transformers)', 'nvidia/segformer-b0-finetuned-ade-512-512',
                                  "label names of the model, e.g. 'sky'"),
}


@dataclass
class MaskRequest:
    model: str
    folder: str
    prompts: list[str] = field(default_factory=list)
    model_name: str = ''  # a local folder (ONNX file for Rembg) or hub name; '' = the usual checkpoint
    mode: str = 'fill'
    threshold: float = 0.3
    smooth_pixels: int = 5
    expand_pixels: int = 10
    alpha: float = 1.0
    include_subdirectories: bool = False
    device: str = ''
    dtype: str = 'FLOAT_32'
    batch_size: int = 8


Masker = Callable[[list[Image.Image], list[str]], list[np.ndarray]]  # per image: (h, w) scores in 0..1


def mask_path(image: Path) -> Path:
    return image.with_name(f'{image.stem}-masklabel.png')


def _resized(scores, size: tuple[int, int]) -> np.ndarray:
    """(h, w) scores of a model's resolution at an image's (width, height)."""
    import torch

    tensor = torch.as_tensor(scores, dtype=torch.float32)[None, None]
    resized = torch.nn.functional.interpolate(tensor, size=(size[1], size[0]), mode='bilinear', align_corners=False)
    return resized[0, 0].clamp(0, 1).numpy()


class ClipSegMasker:
    def __init__(self, name: str, request: MaskRequest):
        import torch
        from transformers import AutoProcessor, CLIPSegForImageSegmentation

        self.device, self.dtype = torch_device_and_dtype(request.device, request.dtype)
        folder = model_folder(name)
        try:
            self.processor = AutoProcessor.from_pretrained(folder)
            self.model = CLIPSegForImageSegmentation.from_pretrained(folder, dtype=self.dtype).to(self.device).eval()
        except Exception as exc:  # noqa: BLE001 - any loading failure is reported in one line
            raise load_failure(name, exc) from exc
        self._torch = torch

    def __call__(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        pairs = [(image, prompt) for image in images for prompt in prompts]  # every prompt of every image at once
        inputs = self.processor(text=[p for _, p in pairs], images=[i for i, _ in pairs], padding=True,
                                return_tensors='pt')
        inputs = {k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                  for k, v in inputs.items()}
        with self._torch.inference_mode():
            logits = self.model(**inputs).logits.float()
        scores = logits.sigmoid().reshape(len(images), len(prompts), *logits.shape[-2:]).amax(dim=1).cpu().numpy()
        return [_resized(s, image.size) for s, image in zip(scores, images, strict=True)]


class SegmentationMasker:
    """Any semantic segmentation model of transformers; the prompts name its labels."""

    def __init__(self, name: str, request: MaskRequest):
        import torch
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        self.device, self.dtype = torch_device_and_dtype(request.device, request.dtype)
        folder = model_folder(name)
        try:
            self.processor = AutoImageProcessor.from_pretrained(folder)
            self.model = AutoModelForSemanticSegmentation.from_pretrained(folder, dtype=self.dtype) \
                .to(self.device).eval()
        except Exception as exc:  # noqa: BLE001 - any loading failure is reported in one line
            raise load_failure(name, exc) from exc
        labels = {str(label).lower(): int(i) for i, label in self.model.config.id2label.items()}
        unknown = [p for p in request.prompts if p.strip().lower() not in labels]
        if unknown:
            raise ToolError(f'the model has no label {unknown[0]!r}; its labels: {", ".join(sorted(labels))[:300]}')
        self.classes = [labels[p.strip().lower()] for p in request.prompts]
        self._torch = torch

    def __call__(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        inputs = self.processor(images=images, return_tensors='pt')
        pixels = inputs['pixel_values'].to(self.device, self.dtype)
        with self._torch.inference_mode():
            probabilities = self.model(pixel_values=pixels).logits.float().softmax(dim=1)
        scores = probabilities[:, self.classes].sum(dim=1).cpu().numpy()
        return [_resized(s, image.size) for s, image in zip(scores, images, strict=True)]


class RembgMasker:
    """rembg's u2net preprocessing and prediction on a local ONNX file (rembg's own download never runs)."""

    def __init__(self, name: str, request: MaskRequest):
        try:
            import onnxruntime
            from rembg.sessions.u2net_custom import U2netCustomSession
        except ImportError as exc:
            raise ToolError('Rembg needs the rembg package: pip install ".[tools]"') from exc

        class LocalFileSession(U2netCustomSession):
            @classmethod
            def download_models(cls, *args, **kwargs):
                return kwargs['model_path']  # any local file, not only those under rembg's own folder

        path = Path(name).expanduser()
        if not path.is_file():
            homes = [Path(LocalFileSession.legacy_home()), Path(LocalFileSession.rembg_home())]
            found = [p for home in homes if home.is_dir() for p in sorted(home.rglob(f'{name}.onnx'))]
            if not found:
                raise ToolError(f'model {name} is not in the local cache ({homes[0]}); connect to the internet '
                                'once or give a local ONNX file')
            path = found[0]
        try:
            self.session = LocalFileSession('u2net_custom', onnxruntime.SessionOptions(), model_path=str(path),
                                            providers=onnx_providers(request.device))
        except Exception as exc:  # noqa: BLE001 - a broken ONNX file is reported in one line
            raise load_failure(name, exc) from exc

    def __call__(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        return [np.asarray(self.session.predict(image)[0].convert('L'), dtype=np.float32) / 255 for image in images]


def parse_colour(text: str) -> np.ndarray:
    match = re.fullmatch(r'#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})', text.strip())
    if match is None:
        raise ToolError(f'{text!r} is not a hex colour such as #FF0000')
    digits = match.group(1)
    if len(digits) == 3:
        digits = ''.join(d * 2 for d in digits)
    return np.array([int(digits[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


class ColourMasker:
    """Pixels within the threshold (a fraction of the largest RGB distance) of any prompt colour."""

    def __init__(self, request: MaskRequest):
        self.colours = [parse_colour(p) for p in request.prompts]
        self.tolerance = request.threshold * float(np.sqrt(3) * 255)

    def __call__(self, images: list[Image.Image], prompts: list[str]) -> list[np.ndarray]:
        result = []
        for image in images:
            pixels = np.asarray(image, dtype=np.float32)
            near = np.zeros(pixels.shape[:2], dtype=bool)
            for colour in self.colours:
                near |= np.linalg.norm(pixels - colour, axis=-1) <= self.tolerance
            result.append(near.astype(np.float32))
        return result


def load_masker(request: MaskRequest) -> Masker:
    name = request.model_name.strip() or MODELS[request.model].default_model
    if request.model == 'COLOR':
        return ColourMasker(request)
    if request.model in ('REMBG', 'REMBG_HUMAN'):
        return RembgMasker(name, request)
    if request.model == 'SEGMENTATION':
        return SegmentationMasker(name, request)
    return ClipSegMasker(name, request)


def shaped(scores: np.ndarray, threshold: float, expand: int, smooth: int) -> np.ndarray:
    """Cut at the threshold, grow by `expand` pixels (max filter), soften over `smooth` pixels (box blur)."""
    import torch
    import torch.nn.functional as F

    mask = torch.as_tensor(scores > threshold, dtype=torch.float32)[None, None]
    if expand > 0:
        mask = F.max_pool2d(mask, 2 * expand + 1, stride=1, padding=expand)
    if smooth > 0:
        mask = F.avg_pool2d(mask, 2 * smooth + 1, stride=1, padding=smooth, count_include_pad=False)
    return mask[0, 0].numpy()


def combined(new: np.ndarray, old: np.ndarray | None, mode: str, alpha: float) -> np.ndarray:
    """The mask to save. A missing mask counts as black, except for subtract: training reads it as all white."""
    if mode in ('replace', 'fill'):
        return new
    if old is None:
        old = np.ones_like(new) if mode == 'subtract' else np.zeros_like(new)
    if mode == 'add':
        return np.clip(old + alpha * new, 0, 1)
    if mode == 'subtract':
        return np.clip(old - alpha * new, 0, 1)
    return (1 - alpha) * old + alpha * new


def _read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    try:
        with Image.open(path) as image:
            mask = image.convert('L')
    except (OSError, ValueError) as exc:
        raise ToolError(f'cannot read the mask {path}: {exc}') from exc
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(mask, dtype=np.float32) / 255


def _check(request: MaskRequest) -> list[Path]:
    if request.model not in MODELS:
        raise ToolError(f'unknown masking model {request.model!r}: one of {", ".join(MODELS)}')
    if request.mode not in MODES:
        raise ToolError(f'unknown mode {request.mode!r}: one of {", ".join(MODES)}')
    request.prompts = [p.strip() for p in request.prompts if p.strip()]
    if not request.prompts and request.model not in ('REMBG', 'REMBG_HUMAN'):
        raise ToolError(f'{MODELS[request.model].title} needs a prompt: {MODELS[request.model].prompt_hint}')
    if not 0 <= request.threshold <= 1:
        raise ToolError('the threshold must be between 0 and 1')
    if not 0 <= request.alpha <= 1:
        raise ToolError('alpha must be between 0 and 1')
    if request.smooth_pixels < 0 or request.expand_pixels < 0:
        raise ToolError('smooth and expand are pixel counts: 0 or more')
    if request.batch_size < 1:
        raise ToolError('the batch size must be at least 1')
    if request.model == 'COLOR':
        for prompt in request.prompts:
            parse_colour(prompt)
    _, images = folder_images(request.folder, request.include_subdirectories)
    if request.mode == 'fill':
        images = [image for image in images if not mask_path(image).exists()]
    check_readable(images)
    if request.mode in ('add', 'subtract', 'blend'):
        check_readable([mask_path(image) for image in images if mask_path(image).exists()])
    return images


def generate_masks(task: ToolTask, request: MaskRequest, masker: Masker | None = None) -> int:
    """Mask the folder's images; returns how many mask files were written."""
    images = _check(request)
    if not images:
        task.log('No image needs a mask.')
        task.step(0, 0)
        return 0
    task.log(f'{len(images)} images to mask with {MODELS[request.model].title}.')
    if masker is None:
        if MODELS[request.model].default_model:
            task.log('Loading the model …')
        masker = load_masker(request)
    cut = 0.5 if request.model == 'COLOR' else request.threshold  # a colour's scores are 0 or 1 already
    done = 0
    for batch in batches(images, request.batch_size):
        task.check()
        loaded = [load_rgb(path) for path in batch]
        for path, image, scores in zip(batch, loaded, masker(loaded, request.prompts), strict=True):
            target = mask_path(path)
            old = _read_mask(target, image.size) if target.exists() else None
            new = shaped(scores, cut, request.expand_pixels, request.smooth_pixels)
            mask = combined(new, old, request.mode, request.alpha)
            save_png_atomic(Image.fromarray(np.round(mask * 255).astype(np.uint8), mode='L'), target)
            done += 1
            task.log(f'{path.name}: {float(mask.mean()) * 100:.0f} % masked')
            task.step(done, len(images))
    return done
