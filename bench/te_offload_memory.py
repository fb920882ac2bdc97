"""Memory while training from cached text encodings, with and without parking the text encoders
(not a test).

A tiny SD3 model (three text encoders) gets a larger T5 encoder: 400 000 vocabulary rows and a wide
feed-forward (about 82 MB as bfloat16, the dtype it is loaded in), so the text encoders dominate the model. Each variant
runs a LoRA training of the transformer in a fresh process on CPU, text encoders frozen, latent and
text caching on, one sample per epoch:

- `parked`: as the trainer does it (on CPU the encoders' weights go to a file and come back for samples);
- `kept`: the same run with parking switched off, the baseline.

    .venv/bin/python bench/te_offload_memory.py [--epochs 3]

Prints, per variant, the peak RSS during training (psutil, sampled every 2 ms), the steady RSS (the
median at the end of each training step), the bytes the trainer reported freed, and the ratio of
`parked` to `kept` for both.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(root: Path) -> Path:
    """The tiny SD3 folder with its T5 replaced by a larger one of the same width."""
    import torch
    from transformers import T5EncoderModel

    from modules.families import family_for

    path = family_for("STABLE_DIFFUSION_3").build_tiny(root / "sd3")
    t5 = T5EncoderModel.from_pretrained(path / "text_encoder_3")
    config = t5.config
    config.vocab_size, config.d_ff = 400_000, 4096
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(path / "text_encoder_3")
    return path


def images(root: Path) -> Path:
    import numpy as np
    from PIL import Image

    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(f"a red thing {i}")
    return folder


class RssSampler:
    def __init__(self, interval: float = 0.002):
        import psutil

        self.process, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_variant(model: str, image_dir: str, work: str, variant: str, epochs: int) -> dict:
    import torch

    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, ModelType, TimeUnit, TrainingMethod
    from modules.config.sample_config import SampleConfig
    from modules.config.train_config import TrainConfig
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks, text_encoder_parking

    torch.set_num_threads(2)
    if variant == "kept":  # the baseline: nothing is parked
        text_encoder_parking.TextEncoderParking.park = lambda self: 0
    cfg = TrainConfig.default_values()
    cfg.model_type, cfg.training_method = ModelType.STABLE_DIFFUSION_3, TrainingMethod.LORA
    cfg.base_model_name, cfg.workspace_dir, cfg.cache_dir = model, f"{work}/ws", f"{work}/cache"
    cfg.resolution, cfg.epochs, cfg.batch_size, cfg.learning_rate = "32", epochs, 2, 1e-3
    cfg.train_device, cfg.temp_device, cfg.train_dtype = "cpu", "cpu", DataType.FLOAT_32
    cfg.tensorboard, cfg.dataloader_threads = False, 1
    cfg.optimizer.fused = False
    for part in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        getattr(cfg, part).train = False
    # converted while loading, so the weights live in the process's memory (as on a GPU) instead of
    # staying in pages of the mapped file that training from the cache never reads
    cfg.text_encoder_3.weight_dtype = DataType.BFLOAT_16
    cfg.sample_after, cfg.sample_after_unit = 1, TimeUnit.EPOCH
    cfg.backup_after_unit, cfg.backup_before_save = TimeUnit.NEVER, False
    concept = ConceptConfig.default_values()
    concept.path = image_dir
    cfg.concepts = [concept]
    sample = SampleConfig.default_values()
    sample.prompt, sample.width, sample.height, sample.diffusion_steps = "a red thing", 32, 32, 2
    cfg.samples = [sample]
    cfg.output_model_format = ModelFormat.KOHYA_LORA
    cfg.output_model_destination = f"{work}/model.safetensors"

    steady: list[int] = []
    sampler = RssSampler()
    trainer = create_trainer(cfg, TrainCallbacks(on_update_train_progress=lambda *_: steady.append(sampler.rss())))
    trainer.start()
    after_start = sampler.rss()
    with sampler:
        trainer.train()
    trainer.end()
    return {"variant": variant, "peak": sampler.peak, "steady": int(statistics.median(steady)),
            "after_start": after_start, "freed": trainer.text_encoder_bytes_freed, "steps": len(steady)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "IMAGES", "WORK", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(*args.child, epochs=args.epochs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, image_dir = build(root), images(root)
        results = {}
        for variant in ("kept", "parked"):
            work = root / variant
            out = subprocess.run([sys.executable, __file__, "--epochs", str(args.epochs), "--child", str(model),
                                  str(image_dir), str(work), variant], capture_output=True, text=True, check=True)
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    mb = 1e6
    for variant, r in results.items():
        print(f"{variant:7s} peak {r['peak'] / mb:7.1f} MB  steady {r['steady'] / mb:7.1f} MB  "
              f"after start {r['after_start'] / mb:7.1f} MB  reported freed {r['freed'] / mb:6.1f} MB  "
              f"({r['steps']} steps)")
    kept, parked = results["kept"], results["parked"]
    print(f"parked/kept: peak {parked['peak'] / kept['peak']:.3f}, steady {parked['steady'] / kept['steady']:.3f}; "
          f"steady difference {(kept['steady'] - parked['steady']) / mb:.1f} MB")


if __name__ == "__main__":
    main()
