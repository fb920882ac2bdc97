"""The run's workspace (spec §1.2): config snapshot, backups, saves, samples, TensorBoard logs."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import torch

from modules.config.files import atomic_write_json

from .backups import EMA_FILE, META, OPTIMIZER_FILE, backup_folders, discard, remove_partial
from .progress import TrainProgress

CONFIG_DIR = "onetrainer_config"


def timestamp() -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def safe_prompt(prompt: str) -> str:
    return re.sub(r"[^A-Za-z0-9 ._\-#]", "", prompt)[:32].strip()


class Workspace:
    def __init__(self, config, ts: str | None = None):
        self.root = Path(config.workspace_dir)
        self.prefix = config.save_filename_prefix or ""
        self.ts = ts or timestamp()

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / "tensorboard" / f"{self.prefix}{self.ts}"

    def config_path(self) -> Path:
        return self.root / "config" / f"{self.prefix}{self.ts}.json"

    def backup_dir(self, progress: TrainProgress) -> Path:
        return self.root / "backup" / f"{timestamp()}-backup-{progress.filename_string()}"

    def save_path(self, progress: TrainProgress, extension: str) -> Path:
        return self.root / "save" / f"{self.prefix}{timestamp()}-save-{progress.filename_string()}{extension}"

    def sample_path(self, index: int | None, prompt: str, progress: TrainProgress, extension: str,
                    postfix: str = "") -> Path:
        folder = "custom" if index is None else f"{index} - {safe_prompt(prompt)}{postfix}"
        name = f"{self.prefix}{timestamp()}-training-sample-{progress.filename_string()}{extension}"
        return self.root / "samples" / folder / name

    @property
    def backup_root(self) -> Path:
        return self.root / "backup"

    def remove_unfinished_backups(self) -> list[Path]:
        """The `.partial` folders of backups a crash interrupted."""
        return remove_partial(self.backup_root)

    def prune_backups(self, keep: int) -> None:
        """Keep the newest `keep` finished backups (the caller removed unfinished writes before)."""
        backups = backup_folders(self.backup_root)
        for old in backups[: max(0, len(backups) - keep)]:
            discard(old)


def write_backup_extras(directory: Path, progress: TrainProgress, optimizer, group_names: list[str],
                        optimizer_name: str, ema, config) -> None:
    """Everything besides the model payload: progress, optimizer and EMA state, the run's config files."""
    atomic_write_json(directory / META, {"train_progress": progress.to_dict()})
    if optimizer is not None:
        (directory / OPTIMIZER_FILE).parent.mkdir(parents=True, exist_ok=True)
        state = optimizer.state_dict()
        state["param_group_mapping"] = list(group_names)
        state["param_group_optimizer_mapping"] = [optimizer_name] * len(group_names)
        torch.save(state, directory / OPTIMIZER_FILE)
    if ema is not None:
        (directory / EMA_FILE).parent.mkdir(parents=True, exist_ok=True)
        torch.save(ema.state_dict(), directory / EMA_FILE)
    config_dir = directory / CONFIG_DIR
    config_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_dir / "args.json", config.to_settings_dict(secrets=False))
    for source, name in ((config.concept_file_name, "concepts.json"), (config.sample_definition_file_name,
                                                                       "samples.json")):
        if source and os.path.isfile(source):
            shutil.copyfile(source, config_dir / name)


def read_progress(directory: str | Path) -> TrainProgress | None:
    path = Path(directory) / META
    if not path.is_file():
        return None
    return TrainProgress.from_dict(json.loads(path.read_text()).get("train_progress", {}))


def restore_optimizer(directory: str | Path, optimizer, group_names: list[str], optimizer_name: str) -> bool:
    """Restore per group when names and optimizer kinds match (else positionally for old files)."""
    path = Path(directory) / OPTIMIZER_FILE
    if optimizer is None or not path.is_file():
        return False
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved_names = state.pop("param_group_mapping", None)
    saved_kinds = state.pop("param_group_optimizer_mapping", None)
    current = optimizer.state_dict()
    if saved_names is None:
        optimizer.load_state_dict(state)
        return True
    saved_groups = {name: (i, kind) for i, (name, kind) in enumerate(zip(saved_names, saved_kinds, strict=True))}
    new_state, new_groups = {}, []
    for j, (name, group) in enumerate(zip(group_names, current["param_groups"], strict=True)):
        merged = dict(group)
        hit = saved_groups.get(name)
        if hit is not None and hit[1] == optimizer_name:
            old_group = state["param_groups"][hit[0]]
            merged.update({k: v for k, v in old_group.items() if k not in ("params", "lr", "initial_lr")})
            for old_id, new_id in zip(old_group["params"], group["params"], strict=False):
                if old_id in state["state"]:
                    new_state[new_id] = state["state"][old_id]
        new_groups.append(merged)
        del j
    optimizer.load_state_dict({"state": new_state, "param_groups": new_groups})
    return True
