"""Training speed of our trainer against a minimal hand-written diffusers loop (not a test).

Both train the same tiny SD 1.5 UNet LoRA (same adapted layers, rank, AdamW) on cached latents and
text encodings. Each side runs in its own process so peak RSS is measured separately.

    .venv/bin/python bench/train_speed.py [--steps 40]
Prints steps/s of both, their ratio (ours / baseline) and the peak RSS of both.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _prepare(work: Path, count: int = 8) -> tuple[str, str]:
    import numpy as np
    from PIL import Image

    from modules.families import family_for

    model = family_for("STABLE_DIFFUSION_15").build_tiny(work / "model")
    images = work / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(images / f"{i}.png")
        (images / f"{i}.txt").write_text(f"picture {i}")
    return str(model), str(images)


def run_ours(model: str, images: str, steps: int, work: Path) -> float:
    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, Optimizer, TimeUnit
    from modules.config.train_config import TrainConfig
    from modules.engine import create_trainer

    cfg = TrainConfig.default_values()
    cfg.base_model_name, cfg.workspace_dir, cfg.cache_dir = model, str(work / "ws"), str(work / "cache")
    cfg.resolution, cfg.batch_size, cfg.epochs, cfg.train_device = "32", 2, steps // 4, "cpu"
    cfg.train_dtype, cfg.tensorboard, cfg.dataloader_threads = DataType.FLOAT_32, False, 1
    cfg.text_encoder.train, cfg.unet.gradient_checkpointing = False, False
    cfg.optimizer.optimizer, cfg.optimizer.fused, cfg.learning_rate = Optimizer.ADAMW, False, 1e-4
    cfg.lora_rank, cfg.lora_alpha, cfg.clip_grad_norm = 4, 4.0, None
    cfg.sample_after_unit = cfg.backup_after_unit = TimeUnit.NEVER
    cfg.backup_before_save, cfg.output_model_format = False, ModelFormat.KOHYA_LORA
    cfg.output_model_destination = str(work / "out.safetensors")
    concept = ConceptConfig.default_values()
    concept.path = images
    cfg.concepts = [concept]
    trainer = create_trainer(cfg)
    trainer.start()
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    return len(trainer.loss_history) / elapsed


def run_baseline(model: str, images: str, steps: int, work: Path) -> float:
    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from peft import LoraConfig, inject_adapter_in_model
    from PIL import Image
    from transformers import CLIPTextModel, CLIPTokenizer

    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
    text_encoder = CLIPTextModel.from_pretrained(model, subfolder="text_encoder")
    tokenizer = CLIPTokenizer.from_pretrained(model, subfolder="tokenizer")
    scheduler = DDPMScheduler.from_pretrained(model, subfolder="scheduler")
    files = sorted(Path(images).glob("*.png"))
    with torch.no_grad():
        pixels = torch.stack([torch.from_numpy(__import__("numpy").asarray(Image.open(f))).permute(2, 0, 1)
                              for f in files]).float() / 127.5 - 1
        latents = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
        ids = tokenizer([f.with_suffix(".txt").read_text() for f in files], padding="max_length",
                        max_length=77, truncation=True, return_tensors="pt").input_ids
        hidden = text_encoder(ids).last_hidden_state
    targets = [n for n, m in unet.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and n]
    unet.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=targets), unet)
    params = [p for n, p in unet.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.tensor([(2 * step) % len(files), (2 * step + 1) % len(files)])
        generator = torch.Generator().manual_seed(step)
        noise = torch.randn(latents[idx].shape, generator=generator)
        t = torch.randint(0, 1000, (2,), generator=generator)
        pred = unet(scheduler.add_noise(latents[idx], noise, t), t, encoder_hidden_states=hidden[idx]).sample
        F.mse_loss(pred, noise).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - start)


def _child(which: str, model: str, images: str, steps: int, work: str) -> None:
    import torch

    torch.set_num_threads(1)
    from modules.families.quiet import quiet_libraries

    quiet_libraries()
    fn = run_ours if which == "ours" else run_baseline
    rate = fn(model, images, steps, Path(work))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"steps_per_s": rate, "peak_rss_mb": peak_mb}))


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
        model, images = _prepare(work)
        results = {}
        for which in ("baseline", "ours"):
            out = subprocess.run([sys.executable, __file__, "--child", which, model, images, str(args.steps),
                                  str(work / which)], capture_output=True, text=True, check=True, cwd=ROOT)
            results[which] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, base = results["ours"], results["baseline"]
    print(f"baseline: {base['steps_per_s']:.2f} steps/s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"ours:     {ours['steps_per_s']:.2f} steps/s, peak RSS {ours['peak_rss_mb']:.0f} MB")
    print(f"speed ratio (ours / baseline): {ours['steps_per_s'] / base['steps_per_s']:.2f}")
    print(f"peak RSS ratio (ours / baseline): {ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
