"""Qwen-Image training speed of our trainer against a minimal hand-written diffusers loop (not a test).

The same comparison as `flow_train_speed.py` (tiny model, transformer LoRA on every Linear layer,
rank 4, AdamW, batch 2, 64 px, cached latents and captions, each side in its own process), with the
baseline written for Qwen-Image: 5-D latents normalised per channel, 2×2-packed, the caption mask and
`img_shapes` passed to the transformer.

    .venv/bin/python bench/qwen_train_speed.py [--steps 40]
Prints steps/s of both sides and their ratio (ours / baseline).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
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
        embeds, mask = pipe.encode_prompt(prompts, max_sequence_length=CAPTION_LENGTH)
        if mask is None:  # the pipeline leaves the mask out when no caption is padded
            mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    latents = latents[:, :, 0]  # [B, C, h, w]: the loop noises 4-D latents
    transformer = pipe.transformer
    b, c, h, w = 2, *latents.shape[1:]

    def forward(noisy, sigma, idx):
        packed = pipe._pack_latents(noisy, b, c, h, w)
        out = transformer(hidden_states=packed, timestep=sigma, encoder_hidden_states=embeds[idx],
                          encoder_hidden_states_mask=mask[idx], img_shapes=[[(1, h // 2, w // 2)]] * b,
                          return_dict=False)[0]
        return pipe._unpack_latents(out, h * 8, w * 8, 8)[:, :, 0]

    return transformer, latents, forward


def _child(which: str, model: str, images: str, steps: int, work: str) -> None:
    flow._baseline_inputs = qwen_baseline_inputs
    flow._child(which, MODEL_TYPE, model, images, steps, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, model, images, steps, work = args.child
        _child(which, model, images, int(steps), work)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, images = flow._prepare(MODEL_TYPE, work)
        rates = {}
        for which in ("baseline", "ours", "baseline", "ours"):  # alternated: the machine is noisy
            out = subprocess.run([sys.executable, __file__, "--child", which, model, images, str(args.steps),
                                  str(work / which)], capture_output=True, text=True, cwd=flow.ROOT)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            rates.setdefault(which, []).append(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])
    base, ours = max(rates["baseline"]), max(rates["ours"])
    print(f"{MODEL_TYPE}: baseline {base:.1f} steps/s, ours {ours:.1f} steps/s, ratio (ours / baseline) {ours / base:.2f}")


if __name__ == "__main__":
    main()
