"""What training over SSH costs (not a test), against a throwaway OpenSSH server on 127.0.0.1.

1. The same tiny SD 1.5 LoRA run through the headless CLI, locally and as a cloud run to localhost
   (upload, remote start, event polling, download): wall time of each and their ratio.
2. A 1,000-image dataset synced, 10 files changed, synced again: bytes sent the second time ÷
   dataset size, and the second sync's time ÷ the first's.

    .venv/bin/python bench/cloud_overhead.py [--epochs 4] [--images 1000] [--changed 10]
The remote side reuses this python (OT_CLOUD_PYTHON), so no set-up time is counted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _images(folder: Path, count: int, size: int = 64) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray((rng.random((size, size, 3)) * 255).astype("uint8")).save(folder / f"{i:04d}.png")
        (folder / f"{i:04d}.txt").write_text(f"picture {i}")


def _config(work: Path, model: str, images: Path, epochs: int):
    from modules.config.concept_config import ConceptConfig
    from modules.config.enums import DataType, ModelFormat, ModelType, Optimizer, TimeUnit, TrainingMethod
    from modules.config.train_config import TrainConfig

    config = TrainConfig.default_values()
    config.model_type, config.training_method = ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA
    config.base_model_name = model
    config.workspace_dir, config.cache_dir = str(work / "workspace"), str(work / "cache")
    config.resolution, config.epochs, config.batch_size = "32", epochs, 2
    config.train_device, config.train_dtype, config.tensorboard = "cpu", DataType.FLOAT_32, False
    config.dataloader_threads = 1
    config.optimizer.optimizer, config.optimizer.fused = Optimizer.ADAMW, False
    config.sample_after_unit = config.backup_after_unit = TimeUnit.NEVER
    config.backup_before_save = False
    concept = ConceptConfig.default_values()
    concept.path = str(images)
    config.concepts, config.samples = [concept], []
    config.output_model_format = ModelFormat.KOHYA_LORA
    config.output_model_destination = str(work / "models" / "lora.safetensors")
    return config


def _cli(config, secrets: dict, work: Path, data_dir: Path) -> float:
    work.mkdir(parents=True, exist_ok=True)
    config_path, secrets_path = work / "config.json", work / "secrets.json"
    config_path.write_text(json.dumps(config.to_pack_dict(secrets=False)))
    secrets_path.write_text(json.dumps(secrets))
    env = dict(os.environ, OT_CLOUD_PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    begin = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path),
                           "--secrets-path", str(secrets_path)], cwd=data_dir, env=env,
                          capture_output=True, text=True)
    took = time.perf_counter() - begin
    if done.returncode != 0:
        sys.exit(f"run failed:\n{done.stderr[-3000:]}")
    return took


def train_overhead(work: Path, server, epochs: int) -> None:
    from modules.config.enums import CloudType
    from modules.families import family_for

    model = str(family_for("STABLE_DIFFUSION_15").build_tiny(work / "model"))
    _images(work / "train-images", 8, 32)
    local = _config(work / "local", model, work / "train-images", epochs)
    first_local_s = _cli(local, {}, work / "local", work)  # both sides keep torch's own thread count

    cloud = _config(work / "cloud", model, work / "train-images", epochs)
    cloud.cloud.enabled, cloud.cloud.type = True, CloudType.LINUX
    remote = work / "remote-machine"
    cloud.cloud.remote_dir, cloud.cloud.onetrainer_dir = str(remote), str(remote / "OneTrainer")
    cloud.cloud.huggingface_cache_dir = str(remote / "hf")
    cloud_s = _cli(cloud, server.secrets().to_dict(), work / "cloud", work)
    assert Path(cloud.output_model_destination).is_file()
    local_s = (first_local_s + _cli(local, {}, work / "local", work)) / 2  # before and after: the load may change
    print(f"tiny LoRA, {epochs} epochs: local {local_s:.1f} s (mean of two), cloud to localhost {cloud_s:.1f} s, "
          f"ratio {cloud_s / local_s:.2f}")


def sync_cost(work: Path, server, count: int, changed: int) -> None:
    from modules.cloud.connection import Connection, known_hosts_path
    from modules.cloud.sync import upload

    dataset = work / "dataset"
    _images(dataset, count)
    total = sum(p.stat().st_size for p in dataset.iterdir())
    connection = Connection(server.host, server.port, server.user, key_file=server.key_file,
                            known_hosts=known_hosts_path(work))
    try:
        begin = time.perf_counter()
        first = upload(connection.sftp, str(dataset), str(work / "remote-data"))
        first_s = time.perf_counter() - begin
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(1)
        for i in range(changed):
            path = dataset / f"{i * (count // changed):04d}.png"
            Image.fromarray((rng.random((64, 64, 3)) * 255).astype("uint8")).save(path)
        begin = time.perf_counter()
        second = upload(connection.sftp, str(dataset), str(work / "remote-data"))
        second_s = time.perf_counter() - begin
    finally:
        connection.close()
    print(f"dataset {count} images + captions, {total / 1e6:.1f} MB: first sync {first.files_sent} files "
          f"{first_s:.1f} s; after changing {changed}: {second.files_sent} files, {second.bytes_sent} bytes = "
          f"{second.bytes_sent / total:.4f} of the dataset, {second_s:.2f} s ({second_s / first_s:.3f} of the first)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()
    from tests.cloud.sshd import running_sshd, trust

    with tempfile.TemporaryDirectory(prefix="ot-cloud-bench-") as folder:
        work = Path(folder)
        (work / "sshd").mkdir()
        with running_sshd(work / "sshd") as server:
            trust(server, work)
            sync_cost(work, server, args.images, args.changed)
            train_overhead(work, server, args.epochs)


if __name__ == "__main__":
    main()
