"""Qwen-Image training speed of our trainer against a minimal hand-written diffusers loop (not a test).

The same comparison as `flow_train_speed.py` (tiny model, transformer LoRA on every Linear layer,
rank 4, AdamW, batch 2, 64 px, cached latents and captions, both sides taking turns in one process), with the
baseline written for Qwen-Image: 5-D latents normalised per channel, 2×2-packed, the caption mask and
`img_shapes` passed to the transformer. The mask is passed as the pipeline passes it: left out when no
caption is padded (the bench's captions have one length), as our trainer leaves out a mask that masks
nothing; so both sides run the same attention.

    .venv/bin/python bench/qwen_train_speed.py [--steps 200] [--rounds 3] [--separate]
Prints steps/s of both sides and their ratio (ours / baseline).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flow_train_speed as flow  # noqa: E402

MODEL_TYPE = "QWEN"
CAPTION_LENGTH = 512  # the pipeline's and our default max_sequence_length


def qwen_baseline_inputs(model_type: str, model: str, images: str):
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
        mean = vae.encode((pixels / 127.5 - 1).unsqueeze(2)).latent_dist.mean
        shape = (1, vae.config.z_dim, 1, 1, 1)
        latents = (mean - torch.tensor(vae.config.latents_mean).view(shape)) / \
            torch.tensor(vae.config.latents_std).view(shape)
        # None when no caption is padded: the pipeline then calls the transformer without a mask
        embeds, mask = pipe.encode_prompt(prompts, max_sequence_length=CAPTION_LENGTH)
    latents = latents[:, :, 0]  # [B, C, h, w]: the loop noises 4-D latents
    transformer = pipe.transformer
    b, c, h, w = 2, *latents.shape[1:]

    def forward(noisy, sigma, idx):
        packed = pipe._pack_latents(noisy, b, c, h, w)
        out = transformer(hidden_states=packed, timestep=sigma, encoder_hidden_states=embeds[idx],
                          encoder_hidden_states_mask=None if mask is None else mask[idx],
                          img_shapes=[[(1, h // 2, w // 2)]] * b, return_dict=False)[0]
        return pipe._unpack_latents(out, h * 8, w * 8, 8)[:, :, 0]

    return transformer, latents, forward


if __name__ == "__main__":
    flow.main_with_baseline(__file__, MODEL_TYPE, qwen_baseline_inputs)
