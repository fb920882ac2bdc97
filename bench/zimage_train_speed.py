"""Z-Image training speed of our trainer against a minimal hand-written diffusers loop (not a test).

The same comparison as `flow_train_speed.py` (tiny model, transformer LoRA on every Linear layer,
rank 4, AdamW, batch 2, 64 px, cached latents and captions, both sides taking turns in one process), with the
baseline written for Z-Image's list inputs: one [C, 1, H, W] latent and one unpadded caption tensor
per sample, timestep 1 − σ, the output negated into the velocity.

    .venv/bin/python bench/zimage_train_speed.py [--steps 200] [--rounds 3] [--separate]
Prints steps/s of both sides and their ratio (ours / baseline).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flow_train_speed as flow  # noqa: E402

MODEL_TYPE = "Z_IMAGE"
CAPTION_LENGTH = 512  # the pipeline's and our default max_sequence_length


def zimage_baseline_inputs(model_type: str, model: str, images: str):
    """Latents, caption features and a transformer call, as a diffusers user would write them."""
    import numpy as np
    import torch
    from diffusers import DiffusionPipeline
    from PIL import Image

    pipe = DiffusionPipeline.from_pretrained(model)
    files = sorted(Path(images).glob("*.png"))
    prompts = [f.with_suffix(".txt").read_text() for f in files]
    vae = pipe.vae
    with torch.no_grad():
        pixels = torch.stack([torch.from_numpy(np.asarray(Image.open(f))).permute(2, 0, 1) for f in files]).float()
        mean = vae.encode(pixels / 127.5 - 1).latent_dist.mean
        latents = (mean - vae.config.shift_factor) * vae.config.scaling_factor
        captions, _ = pipe.encode_prompt(prompts, do_classifier_free_guidance=False,
                                         max_sequence_length=CAPTION_LENGTH)
    transformer = pipe.transformer

    def forward(noisy, sigma, idx):
        out = transformer(list(noisy.unsqueeze(2).unbind(0)), 1 - sigma, [captions[i] for i in idx.tolist()],
                          return_dict=False)[0]
        return -torch.stack(out).squeeze(2)

    return transformer, latents, forward


if __name__ == "__main__":
    flow.main_with_baseline(__file__, MODEL_TYPE, zimage_baseline_inputs)
