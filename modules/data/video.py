"""Video clips for video models, read with PyAV on a 24 fps timeline.

A clip is probed once (its size and the presentation times of its frames, from the container's
packets, plus one decoded frame to prove the codec works); each training sample then decodes only
the frames of its window. Frame k of the 24 fps timeline is the source frame shown at time k/24,
so a 12 fps clip repeats frames and a 30 fps clip skips some.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass

import torch

FPS = 24
_EPSILON = 1e-6  # seconds: timestamps equal up to rounding of the container's time base

log = logging.getLogger(__name__)


class UnreadableVideo(ValueError):
    """The file is not a video PyAV can decode (corrupt, cut, no video stream)."""


@dataclass(frozen=True)
class VideoInfo:
    size: tuple[int, int]  # (height, width)
    sources: tuple[int, ...]  # for each frame of the 24 fps timeline: the index of the decoded frame shown

    @property
    def frames(self) -> int:
        return len(self.sources)


def parse_frames(text) -> tuple[int, ...]:
    """TrainConfig.frames: a whole number, or a comma list of them (one is drawn per sample)."""
    try:
        values = tuple(int(part) for part in str(text).replace(" ", "").split(",") if part)
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise ValueError(f"frames must be a whole number of at least 1 (or a comma list of them), not {text!r}")
    return values


def probe(path) -> VideoInfo:
    """Size and 24 fps frame map of a video; UnreadableVideo when it cannot be decoded."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            rate = float(stream.average_rate) if stream.average_rate else float(FPS)
            stamps = [float(packet.pts * packet.time_base) for packet in container.demux(stream)
                      if packet.size and packet.pts is not None]
        with av.open(str(path)) as container:
            first = next(container.decode(_video_stream(container, path)), None)
    except (av.error.FFmpegError, OSError, StopIteration, ValueError) as exc:
        if isinstance(exc, UnreadableVideo):
            raise
        raise UnreadableVideo(f"{path}: {_first_line(exc)}") from None
    if first is None or not stamps:
        raise UnreadableVideo(f"{path}: no decodable video frames")
    return VideoInfo(size=(first.height, first.width), sources=timeline(sorted(stamps), rate))


def timeline(stamps: list[float], rate: float) -> tuple[int, ...]:
    """Source frame index for each 24 fps frame of a clip whose frames start at `stamps` (sorted)."""
    start = stamps[0]
    times = [t - start for t in stamps]
    last_duration = times[-1] - times[-2] if len(times) > 1 else 1.0 / rate
    end = times[-1] + (last_duration if last_duration > 0 else 1.0 / rate)
    count = max(1, math.floor(end * FPS + _EPSILON))
    return tuple(max(0, bisect.bisect_right(times, k / FPS + _EPSILON) - 1) for k in range(count))


def read_clip(path, info: VideoInfo, start: int, count: int) -> torch.Tensor:
    """Frames [start, start + count) of the 24 fps timeline as a (count, 3, h, w) tensor in [0, 1]."""
    import av

    wanted = info.sources[start:start + count]
    needed, last = set(wanted), max(wanted)
    decoded: dict[int, torch.Tensor] = {}
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in needed:
                    decoded[index] = _frame_tensor(frame, info.size)
                if index >= last:
                    break
    except (av.error.FFmpegError, OSError) as exc:
        if not decoded:
            raise UnreadableVideo(f"{path}: {_first_line(exc)}") from None
        log.warning("%s: decoding stopped early (%s); the clip repeats its last readable frame", path,
                    _first_line(exc))
    if not decoded:
        raise UnreadableVideo(f"{path}: no decodable video frames")
    # a frame the decoder could not deliver is replaced by the nearest earlier one (else the first one)
    available = sorted(decoded)
    frames = [decoded[available[max(0, bisect.bisect_right(available, index) - 1)]] for index in wanted]
    return torch.stack(frames)


def _video_stream(container, path):
    if not container.streams.video:
        raise UnreadableVideo(f"{path}: no video stream")
    return container.streams.video[0]


def _frame_tensor(frame, size: tuple[int, int]) -> torch.Tensor:
    from . import image_ops

    array = frame.to_ndarray(format="rgb24")
    pixels = torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)
    return image_ops.resize(pixels, size)  # a stream may change size mid-way: keep the probed one


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
