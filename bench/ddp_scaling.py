"""Scaling of multi-process training on the CPU (gloo), not a test.

The same tiny SD 1.5 LoRA run (cached latents and text, AdamW) trains once in one process and once
in two processes (`multi_gpu`, `device_indexes` "0,1"), each process on one torch thread, with the
same per-process batch. Samples/s counts every process's samples; the scaling efficiency is
(samples/s of N processes) ÷ (N × samples/s of one). Each variant runs in its own interpreter,
alternating, best of `--rounds`.

    .venv/bin/python bench/ddp_scaling.py [--steps 48] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from train_speed import _prepare  # noqa: E402 - the same tiny model and images


def run(model: str, images: str, steps: int, processes: int, work: Path) -> dict:
    import torch

    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, Optimizer, TimeUnit, TrainingMethod
    from modules.config.train_config import TrainConfig
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks

    torch.set_num_threads(1)
    cfg = TrainConfig.default_values()
    cfg.training_method = TrainingMethod.LORA
    cfg.base_model_name, cfg.workspace_dir, cfg.cache_dir = model, str(work / "ws"), str(work / "cache")
    cfg.resolution, cfg.batch_size, cfg.train_device = "32", 2, "cpu"
    cfg.epochs = max(1, steps * 2 * processes // 16)
    cfg.train_dtype, cfg.tensorboard, cfg.dataloader_threads = DataType.FLOAT_32, False, 1
    cfg.text_encoder.train = False
    cfg.optimizer.optimizer, cfg.optimizer.fused, cfg.learning_rate = Optimizer.ADAMW, False, 1e-4
    cfg.lora_rank, cfg.lora_alpha = 4, 4.0
    cfg.sample_after_unit = cfg.backup_after_unit = TimeUnit.NEVER
    cfg.backup_before_save, cfg.output_model_format = False, ModelFormat.KOHYA_LORA
    cfg.output_model_destination = str(work / "out.safetensors")
    cfg.multi_gpu, cfg.device_indexes = processes > 1, ",".join(str(i) for i in range(processes))
    concept = ConceptConfig.default_values()
    concept.path = images
    cfg.concepts = [concept]
    marks: list[float] = []
    callbacks = TrainCallbacks(on_update_train_progress=lambda p, *_: marks.append(time.perf_counter()))
    trainer = create_trainer(cfg, callbacks)
    trainer.start()
    trainer.train()
    trainer.end()
    # from the end of the first step (warm-up, worker start-up done) to the last
    steps_timed = len(marks) - 1 - cfg.epochs  # epoch ends report progress too
    seconds = marks[-1] - marks[0]
    return {"samples_per_second": steps_timed * cfg.batch_size * processes / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "IMAGES", "PROCESSES", "WORK"))
    args = parser.parse_args()
    if args.child:
        model, images, processes, work = args.child
        print(json.dumps(run(model, images, args.steps, int(processes), Path(work))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model, images = _prepare(Path(tmp), count=16)
        best = {1: 0.0, 2: 0.0}
        for round_ in range(args.rounds):
            for processes in (1, 2):
                work = Path(tmp) / f"run-{processes}-{round_}"
                out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", model,
                                      images, str(processes), str(work)], capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(out.stdout[-2000:] + out.stderr[-4000:])
                result = json.loads(out.stdout.strip().splitlines()[-1])
                best[processes] = max(best[processes], result["samples_per_second"])
        print(f"1 process : {best[1]:.1f} samples/s")
        print(f"2 processes: {best[2]:.1f} samples/s")
        print(f"speed-up {best[2] / best[1]:.2f}x, scaling efficiency {best[2] / (2 * best[1]):.2f}")


if __name__ == "__main__":
    main()
