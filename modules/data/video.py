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

import numpy as np
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
    stamps: tuple[float, ...] = ()  # presentation time of each decoded frame in seconds (for seeking)

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
    stamps.sort()
    return VideoInfo(size=(first.height, first.width), sources=timeline(stamps, rate), stamps=tuple(stamps))


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
    decoded: dict[int, np.ndarray] = {}  # (h, w, 3) uint8: converted to float once, for the whole clip
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            for index, frame in _frames_from(container, stream, info, min(wanted)):
                if index in needed:
                    decoded[index] = _frame_array(frame, info.size)
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
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _frames_from(container, stream, info: VideoInfo, first: int):
    """(index, frame) in presentation order from about frame `first` on: a late window seeks to the
    key frame before it instead of decoding the whole clip up to it; frames are then numbered by
    their presentation time."""
    if first == 0 or len(info.stamps) <= first or stream.time_base is None:
        yield from enumerate(container.decode(stream))
        return
    container.seek(int(info.stamps[first] / stream.time_base), stream=stream, backward=True, any_frame=False)
    for frame in container.decode(stream):
        if frame.time is None:
            raise UnreadableVideo(f"{container.name}: frames without presentation times")
        yield min(bisect.bisect_left(info.stamps, frame.time - _EPSILON), len(info.stamps) - 1), frame


def _video_stream(container, path):
    if not container.streams.video:
        raise UnreadableVideo(f"{path}: no video stream")
    return container.streams.video[0]


def _frame_array(frame, size: tuple[int, int]) -> np.ndarray:
    if (frame.height, frame.width) != tuple(size):  # a stream may change size mid-way: keep the probed one
        frame = frame.reformat(width=size[1], height=size[0])
    return frame.to_ndarray(format="rgb24")


def _first_line(exc: BaseException) -> str:
    """The reason alone: FFmpeg's errors also repeat the file name, which the caller already gives."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return (str(reason).strip().splitlines() or [type(exc).__name__])[0]
