"""Training speed of our trainer against a minimal hand-written diffusers loop, for the
flow-matching families (not a test).

Both sides train the same tiny model's transformer LoRA (every Linear and Conv2d layer, rank 4, AdamW) on
cached latents and text encodings, batch 2, 64 px images (one bucket of the families' 64 px quantum).

    .venv/bin/python bench/flow_train_speed.py [--steps 200] [--rounds 3] [--separate] [--model-type FLUX_DEV_1 STABLE_DIFFUSION_3]
Prints steps/s of both sides and their ratio (ours / baseline) per model type, from each side's
median step (a neighbour's burst on a shared machine counts against neither side).

By default both sides run in one process, taking turns every 10 steps, on one CPU (`run_interleaved`):
on a shared 2-core machine, separate processes of the same loop ran 11.2 to 18.0 ms a step (a
process's own luck with the host: its CPU, its memory), which buried a few per cent of difference;
taking turns, the ratio of a run repeats to about ±1 %. `--separate` runs each side in its own
process instead, alternated, the ratio as the median over rounds of each round's pair, with the
best whole-run rates beside it.
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
    stamps: dict[int, float] = {}

    def stamp(progress, *_):  # also fired at an epoch's end, which is no step: the first stamp of a step counts
        stamps.setdefault(progress.global_step, time.perf_counter())

    trainer = _our_trainer(model_type, model, images, steps, work, stamp)
    stamps[0] = time.perf_counter()
    trainer.train()
    return _durations([stamps[step] for step in sorted(stamps)])


def _our_trainer(model_type: str, model: str, images: str, steps: int, work: Path, on_progress):
    """Our trainer for the comparison, started (model loaded, caches written); `on_progress` gets its
    progress after every step and at every epoch's end."""
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
    trainer = create_trainer(cfg, TrainCallbacks(on_update_train_progress=on_progress))
    trainer.start()
    return trainer


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
    train_step = _baseline_step(model_type, model, images)
    stamps = [time.perf_counter()]
    for step in range(steps):
        train_step(step)
        stamps.append(time.perf_counter())
    return _durations(stamps)


def _baseline_step(model_type: str, model: str, images: str):
    """The hand-written loop's step: `train_step(step)` trains one batch."""
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

    def train_step(step: int) -> None:
        idx = torch.tensor([(2 * step) % len(latents), (2 * step + 1) % len(latents)])
        generator = torch.Generator().manual_seed(step)
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=generator)
        sigma = torch.rand(2, generator=generator)
        noisy = (1 - sigma.view(-1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1) * noise
        F.mse_loss(forward(noisy, sigma, idx), noise - x0).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train_step


def run_interleaved(model_type: str, model: str, images: str, steps: int, work: Path,
                    block: int = 10) -> dict[str, list[float]]:
    """Both sides in one process, taking turns `block` steps at a time: our trainer runs in a thread
    that hands over to the loop after each block of its steps and waits for the loop's next block.
    Each step is timed on its own; the hand-overs fall between steps. Turns a fraction of a second
    long cancel the machine's drift (minutes long, ±10 % here, and a process's own luck with the
    host) out of the ratio, while most steps of a turn still run on the caches their own side left
    (as they would training alone)."""
    import threading

    train_step = _baseline_step(model_type, model, images)
    durations: dict[str, list[float]] = {"baseline": [], "ours": []}
    loop_turn, our_turn = threading.Semaphore(0), threading.Semaphore(0)
    began = [0.0]
    last_step: list[int | None] = [0]

    def hand_over(progress, *_):
        if last_step[0] is None or progress.global_step == last_step[0]:  # the loop is done; an epoch's end
            return
        now = time.perf_counter()
        durations["ours"].append(now - began[0])
        last_step[0] = progress.global_step
        if len(durations["ours"]) % block:
            began[0] = now
            return
        loop_turn.release()
        our_turn.acquire()
        began[0] = time.perf_counter()

    trainer = _our_trainer(model_type, model, images, steps, work, hand_over)
    done = threading.Event()

    def train() -> None:
        try:
            began[0] = time.perf_counter()
            trainer.train()
        finally:
            done.set()
            loop_turn.release()

    thread = threading.Thread(target=train)
    thread.start()
    step = 0
    while step < steps:
        loop_turn.acquire()
        if done.is_set():
            break
        for _ in range(min(block, steps - step)):
            start = time.perf_counter()
            train_step(step)
            durations["baseline"].append(time.perf_counter() - start)
            step += 1
        our_turn.release()
    last_step[0] = None  # the trainer's steps beyond the loop's (none when `steps` divides into epochs) run alone
    our_turn.release()
    thread.join()
    n = min(len(durations["baseline"]), len(durations["ours"]))
    return {k: v[:n] for k, v in durations.items()}


def _durations(stamps: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(stamps)]


def _child(which: str, model_type: str, model: str, images: str, steps: int, work: str) -> None:
    import os

    import torch

    # every run on the same one CPU: the scheduler would otherwise place a side (a process, or a thread
    # of the interleaved run) on whichever CPU, and on a shared host the CPUs run at different speeds
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    from modules.families.quiet import quiet_libraries

    quiet_libraries()
    if which == "interleaved":
        print(json.dumps(run_interleaved(model_type, model, images, steps, Path(work))))
        return
    fn = run_ours if which == "ours" else run_baseline
    print(json.dumps({"step_seconds": fn(model_type, model, images, steps, Path(work))}))


def _run_child(command: list[str], which: str, model: str, images: str, steps: int, work: Path) -> dict:
    out = subprocess.run([*command, which, model, images, str(steps), str(work / which)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare(command: list[str], model_type: str, steps: int, rounds: int, separate: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, images = _prepare(model_type, work)
        if not separate:
            _compare_interleaved(command, model_type, model, images, steps, rounds, work)
            return
        # each side `rounds` times in its own process, alternated (the machine is noisy)
        steps_of: dict[str, list[list[float]]] = {}
        for which in ("baseline", "ours") * max(1, rounds):
            result = _run_child(command, which, model, images, steps, work)
            steps_of.setdefault(which, []).append(result["step_seconds"])
    # the first steps of a run warm the allocator and the autograd caches up: left out on both sides
    medians = {k: [1 / statistics.median(run[WARM_UP:]) for run in runs] for k, runs in steps_of.items()}
    # each round's two runs ran back to back: their ratio is free of the machine's drift between rounds
    ratios = sorted(o / b for b, o in zip(medians["baseline"], medians["ours"], strict=True))
    best = {k: max(len(run) / sum(run) for run in runs) for k, runs in steps_of.items()}
    print(f"{model_type}: baseline {statistics.median(medians['baseline']):.1f} steps/s, "
          f"ours {statistics.median(medians['ours']):.1f} steps/s, "
          f"ratio (ours / baseline) {statistics.median(ratios):.2f} (rounds {ratios[0]:.2f}–{ratios[-1]:.2f}); "
          f"best whole runs {best['baseline']:.1f} and {best['ours']:.1f}, ratio {best['ours'] / best['baseline']:.2f}")


def _compare_interleaved(command: list[str], model_type: str, model: str, images: str, steps: int, rounds: int,
                         work: Path) -> None:
    """Both sides in one process, taking turns (`run_interleaved`), `rounds` times: the ratio of each
    run's median steps, and the median of the ratios of each step pair (the i-th step of each side)."""
    run_ratios, pair_ratios, rates = [], [], {"baseline": [], "ours": []}
    for round_ in range(max(1, rounds)):
        result = _run_child(command, "interleaved", model, images, steps, work / str(round_))
        medians = {k: statistics.median(v[WARM_UP:]) for k, v in result.items()}
        for k, v in medians.items():
            rates[k].append(1 / v)
        run_ratios.append(medians["baseline"] / medians["ours"])
        print(f"  run {round_ + 1}: baseline {1 / medians['baseline']:.1f}, ours {1 / medians['ours']:.1f} steps/s, "
              f"ratio {run_ratios[-1]:.3f}", flush=True)
        pair_ratios += [b / o for b, o in zip(result["baseline"][WARM_UP:], result["ours"][WARM_UP:], strict=True)]
    run_ratios.sort()
    print(f"{model_type} (interleaved): baseline {statistics.median(rates['baseline']):.1f} steps/s, "
          f"ours {statistics.median(rates['ours']):.1f} steps/s, ratio (ours / baseline) of the median steps "
          f"{statistics.median(run_ratios):.3f} (runs {run_ratios[0]:.3f}–{run_ratios[-1]:.3f}), "
          f"median of {len(pair_ratios)} step pairs {statistics.median(pair_ratios):.3f}")


def _arguments(child_fields: int, **extra) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("--separate", action="store_true",
                        help="each side in its own process (by default both take turns in one)")
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
    _compare([sys.executable, script, "--child"], model_type, args.steps, args.rounds, args.separate)


def main() -> None:
    args = _arguments(6, **{"--model-type": {"nargs": "+", "default": ["FLUX_DEV_1", "STABLE_DIFFUSION_3"]}}).parse_args()
    if args.child:
        model_type, which, model, images, steps, work = args.child
        _child(which, model_type, model, images, int(steps), work)
        return
    for model_type in args.model_type:
        _compare([sys.executable, __file__, "--child", model_type], model_type, args.steps, args.rounds,
                 args.separate)


if __name__ == "__main__":
    main()
