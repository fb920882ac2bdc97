"""Z-Image training speed of our trainer against a minimal hand-written diffusers loop (not a test).

The same comparison as `flow_train_speed.py` (tiny model, transformer LoRA on every Linear layer,
rank 4, AdamW, batch 2, 64 px, cached latents and captions, each side in its own process), with the
baseline written for Z-Image's list inputs: one [C, 1, H, W] latent and one unpadded caption tensor
per sample, timestep 1 − σ, the output negated into the velocity.

    .venv/bin/python bench/zimage_train_speed.py [--steps 40]
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


def _child(which: str, model: str, images: str, steps: int, work: str) -> None:
    flow._baseline_inputs = zimage_baseline_inputs
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
        rates: dict[str, list[float]] = {}
        for which in ("baseline", "ours", "baseline", "ours"):  # alternated: the machine is noisy
            out = subprocess.run([sys.executable, __file__, "--child", which, model, images, str(args.steps),
                                  str(work / which)], capture_output=True, text=True, check=True, cwd=flow.ROOT)
            rates.setdefault(which, []).append(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])
    base, ours = max(rates["baseline"]), max(rates["ours"])
    print(f"{MODEL_TYPE}: baseline {base:.1f} steps/s, ours {ours:.1f} steps/s, ratio (ours / baseline) {ours / base:.2f}")


if __name__ == "__main__":
    main()
