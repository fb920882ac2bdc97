"""SD 1.5 inpainting with custom `-condlabel` conditioning images: the conditioning latents are the
custom image's, and training runs."""
from __future__ import annotations

import shutil

import numpy as np
import torch
from PIL import Image

from engine.helpers import run_training


def test_condlabel_conditioning_latents_and_training(make_config, image_dir, tmp_path):
    folder = tmp_path / "concept"
    shutil.copytree(image_dir, folder)
    rng = np.random.default_rng(5)
    for i in range(4):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(folder / f"img{i}-condlabel.png")
    cfg = make_config("STABLE_DIFFUSION_15_INPAINTING", epochs=1, text_encoder__train=False,
                      custom_conditioning_image=True)
    cfg.concepts[0].path = str(folder)
    trainer = run_training(cfg)
    assert len(trainer.loss_history) == 2
    assert all(np.isfinite(v) for _, v in trainer.loss_history)

    family, model = trainer.family, trainer.model
    batch = next(iter(trainer.dataset.epoch(0, 2)))
    assert batch.conditioning_pixels is not None and batch.conditioning_pixels.shape == batch.pixels.shape
    with torch.no_grad():
        latents = family.encode_images(model, batch.pixels)
        custom = family.prepare_inputs(model, latents, batch.pixels, batch.masks, {}, cfg, batch=batch)
        batch.conditioning_pixels = None
        masked = family.prepare_inputs(model, latents, batch.pixels, batch.masks, {}, cfg, batch=batch)
        condlabel_latents = family.encode_images(model, custom_pixels := _condlabels(folder, batch))
    assert custom_pixels.shape == batch.pixels.shape
    assert torch.allclose(custom.extras["masked_latents"], condlabel_latents, atol=1e-5)
    assert not torch.allclose(custom.extras["masked_latents"], masked.extras["masked_latents"], atol=1e-3)
    assert torch.equal(custom.extras["mask"], masked.extras["mask"])


def _condlabels(folder, batch) -> torch.Tensor:
    """The batch's -condlabel images, straight from disk (32 px images: no crop, no augmentation)."""
    from modules.data import image_ops

    stems = [p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in batch.image_paths]
    return torch.stack([image_ops.load_image(folder / f"{stem}-condlabel.png") * 2 - 1 for stem in stems])
