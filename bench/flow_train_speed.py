"""Training speed of our trainer against a minimal hand-written diffusers loop, for the
flow-matching families (not a test).

Both sides train the same tiny model's transformer LoRA (every Linear and Conv2d layer, rank 4, AdamW) on
cached latents and text encodings, batch 2, 64 px images (one bucket of the families' 64 px quantum). Each side runs in its own process.

    .venv/bin/python bench/flow_train_speed.py [--steps 100] [--rounds 3] [--model-type FLUX_DEV_1 STABLE_DIFFUSION_3]
Prints steps/s of both sides and their ratio (ours / baseline) per model type. A run's rate comes
from its median step (a neighbour's burst on this noisy machine counts against neither side), the
ratio is the median over rounds of the two runs of a round; the best whole-run rates are printed
beside them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
T5_LENGTH = 77
WARM_UP = 3  # steps of each run left out of the median
SIZE = 64  # pixels per side: a multiple of every family's bucket quantum, so both sides see the same latents


def _prepare(model_type: str, work: Path) -> tuple[str, str]:
    import numpy as np
    from PIL import Image

    from modules.families import family_for

    model = family_for(model_type).build_tiny(work / "model")
    images = work / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray((rng.random((SIZE, SIZE, 3)) * 255).astype("uint8")).save(images / f"{i}.png")
        (images / f"{i}.txt").write_text(f"picture {i}")
    return str(model), str(images)


def run_ours(model_type: str, model: str, images: str, steps: int, work: Path) -> list[float]:
    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, ModelType, Optimizer, TimeUnit, TrainingMethod
    from modules.config.train_config import TrainConfig
    from modules.engine import create_trainer
    from modules.train.callbacks import TrainCallbacks

    cfg = TrainConfig.default_values()
    cfg.model_type, cfg.training_method = ModelType(model_type), TrainingMethod.LORA
    cfg.base_model_name, cfg.workspace_dir, cfg.cache_dir = model, str(work / "ws"), str(work / "cache")
    cfg.resolution, cfg.batch_size, cfg.epochs, cfg.train_device = str(SIZE), 2, steps // 4, "cpu"
    cfg.train_dtype, cfg.tensorboard, cfg.dataloader_threads = DataType.FLOAT_32, False, 1
    for part in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        getattr(cfg, part).train = False
    cfg.transformer.gradient_checkpointing = False
    cfg.text_encoder_2_sequence_length = T5_LENGTH
    cfg.optimizer.optimizer, cfg.optimizer.fused, cfg.learning_rate = Optimizer.ADAMW, False, 1e-4
    cfg.lora_rank, cfg.lora_alpha, cfg.clip_grad_norm = 4, 4.0, None
    cfg.sample_after_unit = cfg.backup_after_unit = TimeUnit.NEVER
    cfg.backup_before_save, cfg.output_model_format = False, ModelFormat.DIFFUSERS_LORA
    cfg.output_model_destination = str(work / "out.safetensors")
    concept = ConceptConfig.default_values()
    concept.path = images
    cfg.concepts = [concept]
    stamps: dict[int, float] = {}

    def stamp(progress, *_):  # also fired at an epoch's end, which is no step: the first stamp of a step counts
        stamps.setdefault(progress.global_step, time.perf_counter())

    trainer = create_trainer(cfg, TrainCallbacks(on_update_train_progress=stamp))
    trainer.start()
    stamps[0] = time.perf_counter()
    trainer.train()
    return _durations([stamps[step] for step in sorted(stamps)])


def _baseline_inputs(model_type: str, model: str, images: str):
    """Latents, prompt embeddings and a transformer call, as a diffusers user would write them."""
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
        if model_type.startswith("FLUX"):
            embeds, pooled, _ = pipe.encode_prompt(prompts, prompts, max_sequence_length=T5_LENGTH)
        else:
            embeds, _, pooled, _ = pipe.encode_prompt(prompts, prompts, prompts, do_classifier_free_guidance=False,
                                                      max_sequence_length=T5_LENGTH)
    transformer = pipe.transformer
    b, c, h, w = 2, *latents.shape[1:]

    if model_type.startswith("FLUX"):
        img_ids = pipe._prepare_latent_image_ids(b, h // 2, w // 2, "cpu", torch.float32)
        txt_ids = torch.zeros(embeds.shape[1], 3)

        def forward(noisy, sigma, idx):
            packed = pipe._pack_latents(noisy, b, c, h, w)
            out = transformer(hidden_states=packed, timestep=sigma, guidance=torch.full((b,), 1.0),
                              pooled_projections=pooled[idx], encoder_hidden_states=embeds[idx], txt_ids=txt_ids,
                              img_ids=img_ids, return_dict=False)[0]
            return pipe._unpack_latents(out, h * 8, w * 8, 8)
    else:
        def forward(noisy, sigma, idx):
            return transformer(hidden_states=noisy, timestep=sigma * 1000, encoder_hidden_states=embeds[idx],
                               pooled_projections=pooled[idx], return_dict=False)[0]
    return transformer, latents, forward


def run_baseline(model_type: str, model: str, images: str, steps: int, work: Path) -> list[float]:
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, inject_adapter_in_model

    transformer, latents, forward = _baseline_inputs(model_type, model, images)
    # every Linear and Conv2d layer, as our LoRA targets by default (SD3's patch embedding is a Conv2d)
    targets = [n for n, m in transformer.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and n]
    transformer.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=targets), transformer)
    params = [p for n, p in transformer.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    stamps = [time.perf_counter()]
    for step in range(steps):
        idx = torch.tensor([(2 * step) % len(latents), (2 * step + 1) % len(latents)])
        generator = torch.Generator().manual_seed(step)
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=generator)
        sigma = torch.rand(2, generator=generator)
        noisy = (1 - sigma.view(-1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1) * noise
        F.mse_loss(forward(noisy, sigma, idx), noise - x0).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
    return _durations(stamps)


def _durations(stamps: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(stamps)]


def _child(which: str, model_type: str, model: str, images: str, steps: int, work: str) -> None:
    import torch

    torch.set_num_threads(1)
    from modules.families.quiet import quiet_libraries

    quiet_libraries()
    fn = run_ours if which == "ours" else run_baseline
    print(json.dumps({"step_seconds": fn(model_type, model, images, steps, Path(work))}))


def _compare(command: list[str], model_type: str, steps: int, rounds: int) -> None:
    """Run each side `rounds` times, alternated (the machine is noisy); compare their median steps."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, images = _prepare(model_type, work)
        steps_of: dict[str, list[list[float]]] = {}
        for which in ("baseline", "ours") * max(1, rounds):
            out = subprocess.run([*command, which, model, images, str(steps), str(work / which)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            steps_of.setdefault(which, []).append(json.loads(out.stdout.strip().splitlines()[-1])["step_seconds"])
    # the first steps of a run warm the allocator and the autograd caches up: left out on both sides
    medians = {k: [1 / statistics.median(run[WARM_UP:]) for run in runs] for k, runs in steps_of.items()}
    # each round's two runs ran back to back: their ratio is free of the machine's drift between rounds
    ratios = sorted(o / b for b, o in zip(medians["baseline"], medians["ours"], strict=True))
    best = {k: max(len(run) / sum(run) for run in runs) for k, runs in steps_of.items()}
    print(f"{model_type}: baseline {statistics.median(medians['baseline']):.1f} steps/s, "
          f"ours {statistics.median(medians['ours']):.1f} steps/s, "
          f"ratio (ours / baseline) {statistics.median(ratios):.2f} (rounds {ratios[0]:.2f}–{ratios[-1]:.2f}); "
          f"best whole runs {best['baseline']:.1f} and {best['ours']:.1f}, ratio {best['ours'] / best['baseline']:.2f}")


def _arguments(child_fields: int, **extra) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternated")
    for name, options in extra.items():
        parser.add_argument(name, **options)
    parser.add_argument("--child", nargs=child_fields, help=argparse.SUPPRESS)
    return parser


def main_with_baseline(script: str, model_type: str, baseline_inputs) -> None:
    """The command line of a one-family bench whose baseline needs its own inputs (`baseline_inputs`
    replaces `_baseline_inputs`); `script` is the bench file, started again for each side."""
    args = _arguments(5).parse_args()
    global _baseline_inputs
    _baseline_inputs = baseline_inputs
    if args.child:
        which, model, images, steps, work = args.child
        _child(which, model_type, model, images, int(steps), work)
        return
    _compare([sys.executable, script, "--child"], model_type, args.steps, args.rounds)


def main() -> None:
    args = _arguments(6, **{"--model-type": {"nargs": "+", "default": ["FLUX_DEV_1", "STABLE_DIFFUSION_3"]}}).parse_args()
    if args.child:
        model_type, which, model, images, steps, work = args.child
        _child(which, model_type, model, images, int(steps), work)
        return
    for model_type in args.model_type:
        _compare([sys.executable, __file__, "--child", model_type], model_type, args.steps, args.rounds)


if __name__ == "__main__":
    main()
