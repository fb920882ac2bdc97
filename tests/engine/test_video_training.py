"""End to end: a video model type trains on clips and stills, skips a corrupt file with a warning the UI
sees, and writes its video samples. The family is SD 1.5 standing in for a video family."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from modules.families.sd.family import StableDiffusionFamily


class ClipFamily(StableDiffusionFamily):
    """Takes 4k + 1 frames per clip; encodes a clip frame by frame and averages the frame latents (the
    tiny 2-D UNet then trains on them); samples three frames."""

    def __init__(self):
        super().__init__("STABLE_DIFFUSION_15")
        self.encoded: list[tuple[int, ...]] = []

    def frame_count(self, available: int, target: int) -> int:
        return (min(available, target) - 1) // 4 * 4 + 1

    def encode_images(self, model, pixels):
        assert pixels.ndim == 5, "video model types get (B, 3, F, H, W) clips"
        self.encoded.append(tuple(pixels.shape))
        b, c, f, h, w = pixels.shape
        latents = super().encode_images(model, pixels.transpose(1, 2).reshape(b * f, c, h, w))
        return latents.reshape(b, f, *latents.shape[1:]).mean(1)

    def prepare_inputs(self, model, latents, pixels, masks, conditioning, config, batch=None):
        assert masks is None or masks.shape[2] == batch.frames
        masks = masks.amax(2) if masks is not None else None
        return super().prepare_inputs(model, latents, pixels, masks, conditioning, config, batch)

    def sample(self, model, sample_config, on_step=None):
        image = super().sample(model, sample_config, on_step)
        return [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image]


def test_a_video_model_trains_on_clips_and_writes_video_samples(make_config, tmp_path):
    from data.conftest import write_image, write_video

    from modules.config.enums import ModelType, TimeUnit, VideoFormat
    from modules.train import TrainCallbacks
    from modules.train.trainer import GenericTrainer

    folder = tmp_path / "clips"
    write_video(folder / "a.mp4", 9, size=(32, 32), seed=1)
    write_video(folder / "b.mkv", 7, size=(32, 32), seed=2)
    write_image(folder / "still.png", (32, 32))
    (folder / "broken.mp4").write_bytes(b"not a video")
    cfg = make_config("STABLE_DIFFUSION_15", epochs=1, batch_size=1, text_encoder__train=False, frames="9",
                      masked_training=True, latent_caching=True, sample_after=1, sample_after_unit=TimeUnit.EPOCH,
                      sample_video_format=VideoFormat.MP4, samples_to_tensorboard=True)
    cfg.model_type = ModelType.HUNYUAN_VIDEO
    cfg.concepts[0].path = str(folder)
    statuses, samples = [], []
    family = ClipFamily()
    trainer = GenericTrainer(cfg, family, TrainCallbacks(on_update_status=statuses.append,
                                                         on_sample_default=samples.append))
    trainer.start()
    trainer.train()
    trainer.end()

    assert [s for s in statuses if s.startswith("warning:") and "broken.mp4" in s]
    assert sorted(shape[2] for shape in family.encoded) == [1, 5, 9]  # still, b (7 -> 5), a (9) cached once
    assert len(trainer.loss_history) == 3 and all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert samples and samples[0].file_type == "VIDEO" and Path(samples[0].path).suffix == ".mp4"
    assert Path(samples[0].path).is_file() and len(samples[0].data) == 3
    assert Path(cfg.output_model_destination).is_file()
