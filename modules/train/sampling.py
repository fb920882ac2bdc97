"""Rendering the sample list during training into the workspace (spec §7.6)."""
from __future__ import annotations

import logging

from modules.config.enums import ImageFormat

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
        path = workspace.sample_path(None if custom else index, sample.prompt, progress, fmt.extension(), postfix)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format=fmt.pil_format())
        output = SampleOutput(file_type="IMAGE", data=image, path=str(path), sample_index=index, prompt=sample.prompt)
        if writer is not None and config.samples_to_tensorboard and not custom:
            import numpy as np

            writer.add_image(f"sample{index} - {_safe(sample.prompt)}{postfix}", np.asarray(image),
                             progress.global_step, dataformats="HWC")
        on_sample(output)
        outputs.append(output)
    return outputs


def _safe(prompt: str) -> str:
    from .workspace import safe_prompt

    return safe_prompt(prompt)
