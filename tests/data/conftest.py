"""Tiny on-the-fly datasets for the data pipeline tests."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.config.concept_config import ConceptConfig
from modules.config.train_config import TrainConfig


def write_image(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A random RGB image of (width, height) = size: every crop, flip and rotation shows."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data).save(path)
    return path


def write_mask(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> Path:
    """A mask of (width, height) = size, white inside box = (left, top, right, bottom)."""
    data = np.zeros((size[1], size[0]), dtype=np.uint8)
    left, top, right, bottom = box
    data[top:bottom, left:right] = 255
    Image.fromarray(data, mode="L").save(path)
    return path


def make_concept(path, *, seed: int = 1234, image: dict | None = None, text: dict | None = None,
                 **fields) -> ConceptConfig:
    concept = ConceptConfig.default_values()
    concept.path = str(path)
    concept.seed = seed
    concept.name = fields.pop("name", Path(path).name)
    for key, value in fields.items():
        setattr(concept, key, value)
    for key, value in (image or {}).items():
        setattr(concept.image, key, value)
    for key, value in (text or {}).items():
        setattr(concept.text, key, value)
    return concept


@pytest.fixture
def make_config(tmp_path):
    def factory(**fields) -> TrainConfig:
        config = TrainConfig.default_values()
        config.cache_dir = str(tmp_path / "cache")
        config.resolution = "32"
        config.latent_caching = False
        config.dataloader_threads = 1
        for key, value in fields.items():
            setattr(config, key, value)
        return config

    return factory


@pytest.fixture
def square_folder(tmp_path) -> Path:
    """Six 40x40 images with two-line captions."""
    folder = tmp_path / "square"
    for i in range(6):
        write_image(folder / f"img{i}.png", (40, 40), seed=i)
        (folder / f"img{i}.txt").write_text(f"caption {i} a\n\ncaption {i} b\n", encoding="utf-8")
    return folder


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """Landscape, portrait and square images (4 each)."""
    folder = tmp_path / "mixed"
    sizes = {"wide": (64, 32), "tall": (32, 64), "square": (48, 48)}
    for k, (name, size) in enumerate(sizes.items()):
        for i in range(4):
            write_image(folder / f"{name}{i}.png", size, seed=10 * k + i)
            (folder / f"{name}{i}.txt").write_text(f"{name} {i}", encoding="utf-8")
    return folder


class CountingEncoder:
    """Stands in for a VAE: 8x average pooling, counting the images it sees."""

    def __init__(self):
        self.images = 0

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        self.images += pixels.shape[0]
        return torch.nn.functional.avg_pool2d(pixels, 8)


class CountingTextEncoder:
    def __init__(self):
        self.prompts: list[str] = []

    def __call__(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        self.prompts.extend(prompts)
        lengths = torch.tensor([[float(len(p))] for p in prompts])
        return {"hidden": lengths.repeat(1, 4)[:, None, :], "pooled": lengths}


def write_video(path: Path, frames: int, size: tuple[int, int] = (48, 32), fps: int = 24, seed: int = 0,
                static: bool = False, key_frame_interval: int | None = None) -> Path:
    """A lossless H.264 clip of (width, height) = size whose frame i (at most 30) is numbered by its red
    level, 10 + 8 i (see `frame_numbers`), over a random texture so crops and flips show; `static`
    repeats frame 0."""
    import av

    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 120, size=(size[1], size[0]), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv444p"  # no chroma subsampling: the red level survives the codec
        stream.options = {"crf": "0"}
        if key_frame_interval:
            stream.codec_context.gop_size = key_frame_interval
        for i in range(frames):
            data = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            data[..., 0] = 10 + 8 * (0 if static else i)
            data[..., 1] = texture
            data[..., 2] = texture[:, ::-1]
            for packet in stream.encode(av.VideoFrame.from_ndarray(data, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_numbers(clip: torch.Tensor) -> list[int]:
    """The source frame numbers of a (3, F, H, W) clip in [-1, 1] written by `write_video`."""
    red = (clip[0].mean(dim=(-2, -1)) + 1) / 2 * 255
    return [round((float(level) - 10) / 8) for level in red]


class VideoEncoder:
    """Stands in for a video VAE: 8x spatial average pooling of (B, 3, F, H, W) clips, counting clips."""

    def __init__(self):
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(pixels.shape))
        return torch.nn.functional.avg_pool3d(pixels, (1, 8, 8))


def four_k_plus_one(available: int, target: int) -> int:
    """A video autoencoder's frame counts: 4k + 1, at most the clip's and the target's."""
    return (min(available, target) - 1) // 4 * 4 + 1
