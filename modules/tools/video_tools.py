"""Video tools for building datasets: cut videos into short clips, take still images from them, and
download videos with yt-dlp.

Videos are decoded and encoded with PyAV; scene cuts are found by PySceneDetect's adaptive
detector; sharpness is the variance of the Laplacian (OpenCV). Every output file is written to a
temporary name in its folder and renamed into place, so a cancelled or failed run leaves no half
file. Bad input (a missing folder, an unreadable video, a rejected link, numbers out of range) is
refused with a one-line `ToolError` before anything is written.
"""
from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from modules.tools.task import ToolError, ToolTask

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".wmv", ".flv", ".mpg", ".mpeg"})
END_OF_VIDEO = "99:99:99"  # the default end of a time range: the whole video
MIN_CLIP_SECONDS = 0.25
BORDER_LEVEL = 24  # 0-255: rows and columns no brighter than this in every sampled frame are a border
BORDER_SAMPLES = 12  # frames looked at to find the borders
DEFAULT_DOWNLOAD_ARGS = "--quiet --no-warnings --progress --format mp4"
LINK_SCHEMES = ("http", "https", "file")
_EPSILON = 1e-6  # seconds: timestamps equal up to rounding of the container's time base


# ---- input ---------------------------------------------------------------------------------------
def parse_time(text: str | float) -> float:
    """Seconds of `h:m:s`, `m:s` or `s` (each part may have decimals)."""
    parts = str(text).strip().split(":")
    if not parts or len(parts) > 3 or any(not p.strip() for p in parts):
        raise ToolError(f"time {text!r} is not h:m:s, m:s or s")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ToolError(f"time {text!r} is not h:m:s, m:s or s") from None
    if any(v < 0 for v in values):
        raise ToolError(f"time {text!r} is negative")
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds


def time_range(start: str | float = 0, end: str | float = END_OF_VIDEO) -> tuple[float, float]:
    first, last = parse_time(start), parse_time(end)
    if last <= first:
        raise ToolError(f"the time range ends ({end}) before it starts ({start})")
    return first, last


def videos_in(source: str | os.PathLike) -> list[Path]:
    """The video itself, or every video under a folder (sub-folders too), sorted."""
    path = Path(source)
    if not str(source).strip():
        raise ToolError("no video or folder given")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ToolError(f"{path} does not exist")
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not found:
        raise ToolError(f"no videos in {path} ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return found


def _output_folder(output: str | os.PathLike) -> Path:
    path = Path(output)
    if not str(output).strip():
        raise ToolError("no output folder given")
    if not path.is_dir():
        raise ToolError(f"the output folder {path} does not exist")
    return path


def _fraction(name: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise ToolError(f"{name} must be between 0 and 1, not {value}")
    return value


@dataclass(frozen=True)
class VideoFacts:
    path: Path
    width: int
    height: int
    fps: float
    duration: float  # seconds


def probe(path: Path) -> VideoFacts:
    """Size, frame rate and length of a video; ToolError when PyAV cannot decode a frame of it."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ToolError(f"{path} has no video stream")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise ToolError(f"{path} has no decodable video frames")
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = (stream.frames or 1) / fps
            return VideoFacts(path, first.width, first.height, fps, duration)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ToolError(f"{path} is not a readable video: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# ---- frames --------------------------------------------------------------------------------------
def frames(path: Path, start: float = 0.0, end: float = float("inf")) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, RGB array) of every frame shown in [start, end)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0 and stream.time_base is not None:
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if frame.time >= end:
                break
            if frame.time + 1e-6 >= start:
                yield float(frame.time), frame.to_ndarray(format="rgb24")


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: low for a blurred frame."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int  # exclusive
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def of(self, image: np.ndarray) -> np.ndarray:
        return image[self.top:self.bottom, self.left:self.right]


def content_box(images: list[np.ndarray], level: int = BORDER_LEVEL) -> Box:
    """The box inside black bars: rows and columns at the edges that stay dark in every image."""
    brightest = np.max(np.stack([im.max(axis=2) for im in images]), axis=0)
    rows = np.flatnonzero(brightest.max(axis=1) > level)
    cols = np.flatnonzero(brightest.max(axis=0) > level)
    height, width = brightest.shape
    if rows.size == 0 or cols.size == 0:  # all dark: nothing to tell bars from picture
        return Box(0, 0, width, height)
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def border_box(facts: VideoFacts, start: float, end: float) -> Box:
    """The picture inside black bars, from frames spread over [start, end)."""
    end = min(end, facts.duration)
    times = [start + (end - start) * (i + 0.5) / BORDER_SAMPLES for i in range(BORDER_SAMPLES)]
    samples = []
    for t in times:
        sample = next(frames(facts.path, t, end), None)
        if sample is not None:
            samples.append(sample[1])
    if not samples:
        return Box(0, 0, facts.width, facts.height)
    return content_box(samples)


def varied_crop(box: Box, variation: float, rng: random.Random) -> Box:
    """A random part of `box`: one side (width or height, drawn) shortened by up to `variation` of it,
    at a random place, so the aspect ratios of the outputs vary."""
    if variation <= 0:
        return box
    shrink = rng.uniform(0, variation)
    width, height = box.width, box.height
    if rng.random() < 0.5:
        width = max(2, round(width * (1 - shrink)))
    else:
        height = max(2, round(height * (1 - shrink)))
    left = box.left + rng.randint(0, box.width - width)
    top = box.top + rng.randint(0, box.height - height)
    return Box(left, top, left + width, top + height)


def _even(box: Box) -> Box:
    """yuv420p video needs even sides."""
    return Box(box.left, box.top, box.left + max(2, box.width // 2 * 2), box.top + max(2, box.height // 2 * 2))


# ---- writing -------------------------------------------------------------------------------------
def _temp_beside(path: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def write_image(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    tmp = _temp_beside(path, path.suffix)
    try:
        Image.fromarray(image).save(tmp, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None,
                                    quality=95)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class ClipWriter:
    """An mp4 (H.264) written to a temporary name and renamed into place on `close()`."""

    def __init__(self, path: Path, fps: float, box: Box):
        import av

        self.path, self.box = path, _even(box)
        self.tmp = _temp_beside(path, ".mp4")
        self.container = av.open(str(self.tmp), "w", format="mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = self.box.width, self.box.height
        self.stream.pix_fmt = "yuv420p"
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(self.box.of(image)), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        try:
            self.container.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


def _target_folder(output: Path, video: Path, subfolders: bool) -> Path:
    folder = output / video.stem if subfolders else output
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---- extract clips -------------------------------------------------------------------------------
def scene_cuts(facts: VideoFacts, start: float, end: float) -> list[float]:
    """Times of the scene cuts inside (start, end), found by PySceneDetect's adaptive detector."""
    from scenedetect import AdaptiveDetector, open_video
    from scenedetect.scene_manager import SceneManager

    # no ffmpeg log on the console; single-threaded decoding, as PyAV asks when its log is silenced
    video = open_video(str(facts.path), backend="pyav", suppress_output=True, threading_mode=None)
    manager = SceneManager()
    manager.add_detector(AdaptiveDetector(min_scene_len=max(2, round(facts.fps * MIN_CLIP_SECONDS))))
    if start > 0:
        video.seek(start)
    manager.detect_scenes(video, end_time=None if end >= facts.duration else end)
    starts = [scene_start.get_seconds() for scene_start, _ in manager.get_scene_list()[1:]]
    return [t for t in starts if start < t < end]


def clip_spans(start: float, end: float, cuts: list[float], max_length: float) -> list[tuple[float, float]]:
    """[start, end) split at the cuts, each scene into pieces of at most `max_length` seconds; a rest
    shorter than the shortest clip is dropped."""
    bounds = [start, *sorted(c for c in cuts if start < c < end), end]
    spans = []
    for first, last in zip(bounds, bounds[1:], strict=False):
        t = first
        while last - t >= MIN_CLIP_SECONDS - 1e-9:
            spans.append((t, min(t + max_length, last)))
            t += max_length
    return spans


def extract_clips(task: ToolTask, source: str | os.PathLike, output: str | os.PathLike, *,
                  max_length: float = 3.0, fps: float = 24.0, split_at_cuts: bool = False,
                  remove_borders: bool = False, crop_variation: float = 0.2, start: str | float = 0,
                  end: str | float = END_OF_VIDEO, output_subfolders: bool = False,
                  seed: int | None = None) -> list[Path]:
    """Cut a video (or every video under a folder) into clips of at most `max_length` seconds at
    `fps` frames a second (0: the video's own rate); returns the clips written."""
    if max_length <= MIN_CLIP_SECONDS:
        raise ToolError(f"the maximum clip length must be more than {MIN_CLIP_SECONDS} s, not {max_length}")
    if fps < 0:
        raise ToolError(f"fps must be 0 (keep the video's rate) or more, not {fps}")
    _fraction("crop variation", crop_variation)
    first, last = time_range(start, end)
    out = _output_folder(output)
    videos = [probe(v) for v in videos_in(source)]  # every video readable before anything is written
    rng = random.Random(seed)
    written: list[Path] = []
    for number, facts in enumerate(videos):
        task.check()
        task.step(number, len(videos))
        task.log(f"{facts.path.name}: {facts.width}×{facts.height}, {facts.fps:g} fps, {facts.duration:.1f} s")
        end_time = min(last, facts.duration)
        cuts = scene_cuts(facts, first, end_time) if split_at_cuts else []
        if cuts:
            task.log(f"  scene cuts at {', '.join(f'{c:.2f} s' for c in cuts)}")
        spans = clip_spans(first, end_time, cuts, max_length)
        box = border_box(facts, first, end_time) if remove_borders else Box(0, 0, facts.width, facts.height)
        folder = _target_folder(out, facts.path, output_subfolders)
        written += _write_clips(task, facts, spans, box, fps or facts.fps, crop_variation, rng, folder)
    task.step(len(videos), len(videos))
    task.log(f"{len(written)} clips written to {out}")
    return written


def _write_clips(task, facts: VideoFacts, spans, box: Box, fps: float, variation: float, rng, folder: Path
                 ) -> list[Path]:
    written = []
    for index, (span_start, span_end) in enumerate(spans):
        task.check()
        path = folder / f"{facts.path.stem}_{index:04d}.mp4"
        writer = ClipWriter(path, fps, varied_crop(box, variation, rng))
        try:
            _fill(writer, facts, span_start, span_end, fps)
            if writer.frames == 0:
                writer.discard()
                continue
            written.append(writer.close())
        except BaseException:
            writer.discard()
            raise
        task.log(f"  {path.name}: {span_start:.2f}–{span_end:.2f} s, {writer.frames} frames, "
                 f"{writer.box.width}×{writer.box.height}")
    return written


def _fill(writer: ClipWriter, facts: VideoFacts, start: float, end: float, fps: float) -> None:
    """Output frame k shows the source frame on screen at start + k / fps (repeated or skipped
    source frames when the rates differ)."""
    count = max(1, round((end - start) * fps))
    k, previous = 0, None
    for time, image in frames(facts.path, start, end):
        while k < count and start + k / fps < time - _EPSILON:
            writer.add(previous if previous is not None else image)
            k += 1
        previous = image
    while previous is not None and k < count:
        writer.add(previous)
        k += 1


# ---- extract images ------------------------------------------------------------------------------
def extract_images(task: ToolTask, source: str | os.PathLike, output: str | os.PathLike, *,
                   images_per_second: float = 0.5, blur_removal: float = 0.2, remove_borders: bool = False,
                   crop_variation: float = 0.2, start: str | float = 0, end: str | float = END_OF_VIDEO,
                   output_subfolders: bool = False, seed: int | None = None) -> list[Path]:
    """Still images of a video (or every video under a folder), `images_per_second` of them; the
    `blur_removal` fraction of them that is blurriest (variance of the Laplacian) is dropped."""
    if images_per_second <= 0:
        raise ToolError(f"images per second must be more than 0, not {images_per_second}")
    _fraction("blur removal", blur_removal)
    _fraction("crop variation", crop_variation)
    first, last = time_range(start, end)
    out = _output_folder(output)
    videos = [probe(v) for v in videos_in(source)]
    rng = random.Random(seed)
    written: list[Path] = []
    for number, facts in enumerate(videos):
        task.check()
        task.step(number, len(videos))
        end_time = min(last, facts.duration)
        box = border_box(facts, first, end_time) if remove_borders else Box(0, 0, facts.width, facts.height)
        # two passes, so a long video never has all its frames in memory: sharpness, then the writing
        dropped = _blurriest(_capture(task, facts, first, end_time, images_per_second), blur_removal)
        folder = _target_folder(out, facts.path, output_subfolders)
        taken = 0
        for time, image in _capture(task, facts, first, end_time, images_per_second):
            taken += 1
            if time in dropped:
                continue
            crop = varied_crop(box, crop_variation, rng)
            path = folder / f"{facts.path.stem}_{round(time * 1000):08d}.jpg"
            written.append(write_image(path, np.ascontiguousarray(crop.of(image))))
        task.log(f"{facts.path.name}: {taken} frames taken, {len(dropped)} blurriest dropped")
    task.step(len(videos), len(videos))
    task.log(f"{len(written)} images written to {out}")
    return written


def _capture(task, facts: VideoFacts, start: float, end: float, rate: float) -> Iterator[tuple[float, np.ndarray]]:
    """The frame on screen at start, start + 1/rate, ... (each frame once, however high the rate)."""
    next_time, previous, last_taken = start, None, None
    for time, image in frames(facts.path, start, end):
        task.check()
        while next_time < time - _EPSILON:
            pick = previous if previous is not None else (time, image)
            if pick[0] != last_taken:
                last_taken = pick[0]
                yield pick
            next_time += 1 / rate
        previous = (time, image)
    while previous is not None and next_time < min(end, previous[0] + 1 / facts.fps) - _EPSILON:
        if previous[0] != last_taken:
            last_taken = previous[0]
            yield previous
        next_time += 1 / rate


def _blurriest(captured: Iterator[tuple[float, np.ndarray]], fraction: float) -> set[float]:
    """The times of the `fraction` of the captured frames with the lowest variance of the Laplacian."""
    if fraction <= 0:
        return set()
    scores = [(sharpness(image), time) for time, image in captured]
    drop = int(len(scores) * fraction)
    return {time for _, time in sorted(scores)[:drop]}


# ---- download ------------------------------------------------------------------------------------
def links_in(path: str | os.PathLike) -> list[str]:
    """The links of a list file: one per line; blank lines and lines starting with # are skipped."""
    file = Path(path)
    if not file.is_file():
        raise ToolError(f"the link list {file} does not exist")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(f"cannot read the link list {file}: {_first_line(exc)}") from None
    links = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not links:
        raise ToolError(f"the link list {file} holds no links")
    return links


def check_link(link: str) -> str:
    parsed = urlparse(link.strip())
    if parsed.scheme not in LINK_SCHEMES or not (parsed.netloc or parsed.scheme == "file"):
        raise ToolError(f"{link!r} is not a link (http, https or file)")
    return link.strip()


def download_arguments(text: str) -> list[str]:
    """The extra yt-dlp arguments of the text field, split as a shell would split them (quotes kept
    together) but never given to a shell."""
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise ToolError(f"the yt-dlp arguments cannot be read: {exc}") from None


def download(task: ToolTask, links: list[str], output: str | os.PathLike,
             extra_args: list[str] | None = None) -> list[Path]:
    """Download each link with yt-dlp into `output`; returns the files it wrote. A link that fails
    does not stop the others; the failures are reported at the end."""
    links = [check_link(link) for link in links]
    if not links:
        raise ToolError("no link given")
    out = _output_folder(output)
    args = list(extra_args if extra_args is not None else download_arguments(DEFAULT_DOWNLOAD_ARGS))
    if any(link.startswith("file:") for link in links) and "--enable-file-urls" not in args:
        args.append("--enable-file-urls")
    written: list[Path] = []
    failures: list[str] = []
    for number, link in enumerate(links):
        task.check()
        task.step(number, len(links))
        task.log(f"downloading {link}")
        files, error = _yt_dlp(task, link, out, args)
        written += files
        if error:
            failures.append(f"{link}: {error}")
            task.log(f"  failed: {error}")
        for file in files:
            task.log(f"  {file.name}")
    task.step(len(links), len(links))
    if failures:
        raise ToolError(f"{len(failures)} of {len(links)} downloads failed; first: {failures[0]}")
    return written


def _yt_dlp(task: ToolTask, link: str, out: Path, args: list[str]) -> tuple[list[Path], str | None]:
    """Run yt-dlp for one link (an argument list, no shell); its printed file paths and an error."""
    command = [sys.executable, "-m", "yt_dlp", *args, "--paths", str(out),
               "--print", "after_move:filepath", "--", link]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        while True:
            try:
                stdout, stderr = process.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if task.cancelled.is_set():
                    process.terminate()
                    process.wait()
                    task.check()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    files = [Path(line.strip()) for line in stdout.splitlines() if line.strip() and Path(line.strip()).is_file()]
    if process.returncode != 0:
        errors = [line for line in stderr.splitlines() if line.strip()]
        return files, (errors[-1] if errors else f"yt-dlp exited with {process.returncode}")
    return files, None


# ---- preview -------------------------------------------------------------------------------------
def preview(path: str | os.PathLike):
    """(PIL image, caption) of an output: an image itself, or a clip's first frame with its frame count."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            first = next(container.decode(stream)).to_image()
            count = stream.frames or sum(1 for _ in container.decode(stream)) + 1
        return first, f"{path.name} · {count} frames · {first.width}×{first.height}"
    with Image.open(path) as image:
        image.load()
        return image.copy(), f"{path.name} · {image.width}×{image.height}"
