"""Video samples: a family that renders frames gets an MP4 or a numbered image sequence, reported as VIDEO."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.config.enums import ImageFormat, VideoFormat
from modules.config.sample_config import SampleConfig
from modules.config.train_config import TrainConfig
from modules.train.progress import TrainProgress
from modules.train.sampling import pil_frames, render_samples, write_video
from modules.train.workspace import Workspace

FRAMES = 7


def frames(count: int = FRAMES, size: tuple[int, int] = (34, 22)) -> list[Image.Image]:
    """Frames whose red level numbers them (20 i)."""
    result = []
    for i in range(count):
        data = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        data[..., 0] = 20 * i
        data[..., 1] = 128
        result.append(Image.fromarray(data))
    return result


class FrameFamily:
    """A family whose sampler renders clips (or, for the prompt 'still', one image)."""

    def sample(self, model, sample_config, on_step=None):
        if sample_config.prompt == "still":
            return frames(1)[0]
        return frames()


def render(tmp_path, video_format: VideoFormat, prompts=("a clip",), writer=None):
    config = TrainConfig.default_values()
    config.workspace_dir = str(tmp_path / "workspace")
    config.sample_video_format = video_format
    config.sample_image_format = ImageFormat.PNG
    config.samples_to_tensorboard = True
    samples = []
    for prompt in prompts:
        sample = SampleConfig.default_values()
        sample.prompt = prompt
        samples.append(sample)
    received = []
    outputs = render_samples(FrameFamily(), None, config, Workspace(config), TrainProgress(), samples, custom=False,
                             postfix="", on_sample=received.append, on_progress=None, writer=writer)
    assert outputs == received
    return outputs


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == 24 and stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]


def test_mp4_samples(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "tb"))
    try:
        video, still = render(tmp_path, VideoFormat.MP4, prompts=("a clip", "still"), writer=writer)
    finally:
        writer.close()
    assert video.file_type == "VIDEO" and len(video.data) == FRAMES
    path = Path(video.path)
    assert path.suffix == ".mp4" and path.parent.name == "0 - a clip" and "-training-sample-0-0-0" in path.name
    clip = decoded(path)
    assert len(clip) == FRAMES and clip[0].shape == (22, 34, 3)  # an odd side loses its last column
    assert [round(float(f[..., 0].mean()) / 20) for f in clip] == list(range(FRAMES))
    assert still.file_type == "IMAGE" and Path(still.path).suffix == ".png"
    assert list((tmp_path / "tb").iterdir())  # the first frame went to TensorBoard without an error


@pytest.mark.parametrize(("video_format", "suffix"), [(VideoFormat.PNG_IMAGE_SEQUENCE, ".png"),
                                                      (VideoFormat.JPG_IMAGE_SEQUENCE, ".jpg")])
def test_image_sequence_samples(tmp_path, video_format, suffix):
    (output,) = render(tmp_path, video_format)
    folder = Path(output.path)
    assert output.file_type == "VIDEO" and folder.is_dir() and folder.parent.name == "0 - a clip"
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"{i:05d}{suffix}" for i in range(FRAMES)]
    with Image.open(files[3]) as third:
        assert third.size == (34, 22) and abs(np.asarray(third)[..., 0].mean() - 60) < 3


def test_array_frames_are_accepted(tmp_path):
    arrays = [np.full((8, 8, 3), i / 4, dtype=np.float32) for i in range(3)] + [np.full((8, 8, 3), 7, np.uint8)]
    images = pil_frames(arrays)
    assert [int(np.asarray(i)[0, 0, 0]) for i in images] == [0, 64, 128, 7]
    write_video(images, tmp_path / "c.mp4", VideoFormat.MP4)
    assert len(decoded(tmp_path / "c.mp4")) == 4
    with pytest.raises(ValueError, match="without frames"):
        write_video([], tmp_path / "empty.mp4", VideoFormat.MP4)
