"""Rendering the sample list during training into the workspace (spec §7.6)."""
from __future__ import annotations

import logging
from pathlib import Path

from modules.config.enums import ImageFormat, VideoFormat

from .callbacks import SampleOutput

log = logging.getLogger(__name__)


def training_samples(config) -> list:
    """Inline samples, else the sample file; a broken file only disables sampling."""
    from modules.config.files import load_samples

    if config.samples is not None:
        return list(config.samples)
    try:
        return load_samples(config.sample_definition_file_name, config.model_type)
    except Exception as exc:  # noqa: BLE001 - any problem with the file disables sampling, never training
        log.warning("sampling disabled: %s", exc)
        return []


def with_training_overrides(sample, config):
    sample = sample.copy()
    sample.text_encoder_1_layer_skip = config.text_encoder_layer_skip
    sample.text_encoder_1_sequence_length = config.text_encoder_sequence_length
    sample.text_encoder_2_layer_skip = config.text_encoder_2_layer_skip
    sample.text_encoder_2_sequence_length = config.text_encoder_2_sequence_length
    sample.text_encoder_3_layer_skip = config.text_encoder_3_layer_skip
    sample.text_encoder_4_layer_skip = config.text_encoder_4_layer_skip
    sample.transformer_attention_mask = config.transformer.attention_mask
    sample.force_last_timestep = config.rescale_noise_scheduler_to_zero_terminal_snr
    return sample


def render_samples(family, model, config, workspace, progress, samples, *, custom: bool, postfix: str,
                   on_sample, on_progress, writer=None) -> list[SampleOutput]:
    fmt = ImageFormat(config.sample_image_format)
    video_fmt = VideoFormat(config.sample_video_format)
    outputs = []
    for index, sample in enumerate(samples):
        if not sample.enabled:
            continue
        sample = with_training_overrides(sample, config)
        try:
            image = family.sample(model, sample, on_step=on_progress)
        except Exception:  # noqa: BLE001 - a failing sample is reported and skipped
            log.exception("sampling failed for prompt %r", sample.prompt)
            continue
        is_video = isinstance(image, (list, tuple))
        if is_video:
            image = pil_frames(image)
            extension = ".mp4" if video_fmt == VideoFormat.MP4 else ""  # an image sequence is a folder
            path = workspace.sample_path(None if custom else index, sample.prompt, progress, extension, postfix)
            try:
                write_video(image, path, video_fmt)
            except Exception:  # noqa: BLE001 - a sample that cannot be written is reported and skipped
                log.exception("writing the video sample %s failed", path)
                continue
            output = SampleOutput(file_type="VIDEO", data=image, path=str(path), sample_index=index,
                                  prompt=sample.prompt)
        else:
            path = workspace.sample_path(None if custom else index, sample.prompt, progress, fmt.extension(), postfix)
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, format=fmt.pil_format())
            output = SampleOutput(file_type="IMAGE", data=image, path=str(path), sample_index=index,
                                  prompt=sample.prompt)
        if writer is not None and config.samples_to_tensorboard and not custom:
            import numpy as np

            # TensorBoard shows a video sample by its first frame
            writer.add_image(f"sample{index} - {_safe(sample.prompt)}{postfix}",
                             np.asarray((image[0] if is_video else image).convert("RGB")),
                             progress.global_step, dataformats="HWC")
        on_sample(output)
        outputs.append(output)
    return outputs


def pil_frames(frames) -> list:
    """A family's video frames as PIL images (it may hand PIL images or uint8 / [0, 1] float HWC arrays)."""
    import numpy as np
    from PIL import Image

    result = []
    for frame in frames:
        if not isinstance(frame, Image.Image):
            array = np.asarray(frame)
            if array.dtype != np.uint8:
                array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
            frame = Image.fromarray(array)
        result.append(frame)
    return result


def write_video(frames, path: Path, fmt: VideoFormat, fps: int = 24) -> None:
    """Frames (PIL images) as an MP4 file (H.264, crf 17, yuv420p) or as numbered images in the folder `path`."""
    if not frames:
        raise ValueError("a video sample without frames")
    if fmt == VideoFormat.MP4:
        _write_mp4(frames, path, fps)
        return
    path.mkdir(parents=True, exist_ok=True)
    digits = max(5, len(str(len(frames) - 1)))
    for number, frame in enumerate(frames):
        frame.convert("RGB").save(path / f"{number:0{digits}d}{fmt.extension()}", format=fmt.pil_format())


def _write_mp4(frames, path: Path, fps: int) -> None:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = frames[0].size
    even = (width - width % 2, height - height % 2)  # yuv420p needs even sides: drop an odd last row/column
    tmp = path.with_name(path.name + ".partial.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = max(2, even[0]), max(2, even[1])
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17"}
        for frame in frames:
            rgb = frame.convert("RGB")
            if rgb.size != (stream.width, stream.height):
                rgb = rgb.crop((0, 0, stream.width, stream.height))
            video_frame = av.VideoFrame.from_ndarray(np.asarray(rgb), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def _safe(prompt: str) -> str:
    from .workspace import safe_prompt

    return safe_prompt(prompt)
