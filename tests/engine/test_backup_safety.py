"""Crash-safe backups and folder saves: an interrupted write never replaces a good folder, resuming passes
over unfinished and damaged backups (naming them), and a broken backup given by name is a one-line error."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from engine.helpers import losses, run_training


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _crash_during(monkeypatch, target, name):
    """Make `target.name` write its files and then fail as if the power went out: nothing is cleaned up."""
    from modules.train import backups

    original = getattr(target, name)

    def interrupted(*args, **kwargs):
        original(*args, **kwargs)
        monkeypatch.setattr(backups, "discard", lambda path: None)  # the process is gone: no cleanup runs
        raise RuntimeError("power lost")

    monkeypatch.setattr(target, name, interrupted)


# ------------------------------------------------------------------------------------------- the check
def test_the_integrity_check_names_what_is_wrong(tmp_path):
    from safetensors.torch import save_file

    from modules.train.backups import backup_problem, safetensors_problem

    good = tmp_path / "good"
    (good / "lora").mkdir(parents=True)
    (good / "optimizer").mkdir()
    save_file({"a": torch.ones(64)}, good / "lora" / "lora.safetensors")
    torch.save({"state": {}}, good / "optimizer" / "optimizer.pt")
    (good / "meta.json").write_text(json.dumps({"train_progress": {"global_step": 2}}))
    assert backup_problem(good) is None

    lora = good / "lora" / "lora.safetensors"
    raw = lora.read_bytes()
    lora.write_bytes(raw[:-10])
    assert "lora/lora.safetensors" in backup_problem(good) and "truncated" in safetensors_problem(lora)
    lora.write_bytes(raw[:5])
    assert "truncated" in safetensors_problem(lora)
    lora.write_bytes(raw + b"\0")
    assert safetensors_problem(lora) is not None
    lora.write_bytes(raw)

    optimizer = good / "optimizer" / "optimizer.pt"
    _truncate(optimizer)
    assert "optimizer/optimizer.pt" in backup_problem(good)
    optimizer.unlink()
    assert "optimizer/optimizer.pt is missing" == backup_problem(good)
    torch.save({"state": {}}, optimizer)

    (good / "meta.json").write_text('{"train_progress": {"glo')
    assert backup_problem(good) == "meta.json cannot be read"
    (good / "meta.json").unlink()
    assert backup_problem(good) == "meta.json is missing"
    assert "unfinished" in backup_problem(tmp_path / "x.partial")


# ------------------------------------------------------------------------------------------- resuming
def test_resume_passes_over_an_interrupted_and_a_damaged_backup(make_config, tmp_path, monkeypatch):
    from modules.config.validation import check_paths
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks, TrainCommands
    from modules.train.methods import MethodSetup

    reference = run_training(make_config(epochs=3, workspace_dir=str(tmp_path / "a")))
    assert len(reference.loss_history) == 6

    commands = TrainCommands()

    def back_up(progress, max_step, max_epoch):
        if progress.global_step in (2, 4, 5):
            commands.backup()

    config = make_config(epochs=3, workspace_dir=str(tmp_path / "b"))
    first = create_trainer(config, TrainCallbacks(on_update_train_progress=back_up), commands)
    first.start()
    original_backup = first.backup

    def backup_then_crash_at_five():
        if first.progress.global_step == 5:
            _crash_during(monkeypatch, MethodSetup, "save_internal")  # the payload is written, then the crash
        return original_backup()

    first.backup = backup_then_crash_at_five
    with pytest.raises(RuntimeError, match="power lost"):
        first.train()
    first.writer.close()
    monkeypatch.undo()
    assert [step for step, _ in first.loss_history] == [0, 1, 2, 3, 4]

    backup_root = Path(config.workspace_dir) / "backup"
    names = sorted(p.name for p in backup_root.iterdir())
    assert len(names) == 3
    interrupted = next(n for n in names if n.endswith(".partial"))
    assert "-backup-5-" in interrupted
    assert (backup_root / interrupted / "lora" / "lora.safetensors").is_file()  # half a backup: no meta.json
    assert not (backup_root / interrupted / "meta.json").exists()
    newest = next(n for n in names if "-backup-4-" in n and not n.endswith(".partial"))
    earlier = next(n for n in names if "-backup-2-" in n)
    _truncate(backup_root / newest / "lora" / "lora.safetensors")  # and the newest finished one is damaged

    resumed_config = make_config(epochs=3, workspace_dir=config.workspace_dir, continue_last_backup=True)
    assert resumed_config.get_last_backup_path() == str(backup_root / earlier)
    assert not [p for p in check_paths(resumed_config) if p.path == "continue_last_backup"]

    statuses: list[str] = []
    resume_commands = TrainCommands()

    def back_up_once(progress, max_step, max_epoch):
        if progress.global_step == 3:
            resume_commands.backup()

    resumed = run_training(resumed_config, TrainCallbacks(on_update_status=statuses.append,
                                                          on_update_train_progress=back_up_once), resume_commands)
    warnings = [s for s in statuses if s.startswith("warning:")]
    assert any(newest in w and "lora/lora.safetensors" in w for w in warnings)
    assert any(interrupted in w for w in warnings)
    assert all(earlier not in w for w in warnings)
    assert resumed.warnings == [w.removeprefix("warning: ") for w in warnings]
    assert resumed.loss_history[0][0] == 2
    assert losses(resumed) == pytest.approx(losses(reference)[2:], rel=1e-5, abs=1e-6)
    # the next backup removed the crash's leftover
    assert not [p for p in backup_root.iterdir() if p.name.endswith(".partial")]


def test_only_broken_backups_start_a_new_run_with_a_warning(make_config, tmp_path):
    from modules.config.validation import check_paths

    backup_root = tmp_path / "ws" / "backup"
    broken = backup_root / "2024-01-01_00-00-00-backup-2-1-0"
    (broken / "lora").mkdir(parents=True)
    (broken / "meta.json").write_text(json.dumps({"train_progress": {"global_step": 2, "epoch": 1}}))
    (broken / "lora" / "lora.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    (backup_root / "2024-01-02_00-00-00-backup-4-2-0.partial").mkdir()

    config = make_config(epochs=1, workspace_dir=str(tmp_path / "ws"), continue_last_backup=True)
    assert config.get_last_backup_path() is None
    assert [p.severity for p in check_paths(config) if p.path == "continue_last_backup"] == ["warning"]
    statuses: list[str] = []
    from modules.train import TrainCallbacks

    trainer = run_training(config, TrainCallbacks(on_update_status=statuses.append))
    assert trainer.loss_history[0][0] == 0  # a new run
    text = "\n".join(s for s in statuses if s.startswith("warning:"))
    assert broken.name in text and "2024-01-02_00-00-00-backup-4-2-0.partial" in text
    assert "no usable backup found, starting a new run" in text


# ------------------------------------------------------------------------------------------- named backups
def test_a_broken_backup_given_by_name_is_a_one_line_error(make_config, tmp_path):
    from modules.engine import create_trainer
    from modules.train import TrainCommands
    from modules.train.backups import BackupError

    commands = TrainCommands()
    trained = run_training(make_config(epochs=1, workspace_dir=str(tmp_path / "ws"), backup_before_save=True),
                           commands=commands)
    backup = next((Path(trained.config.workspace_dir) / "backup").iterdir())
    _truncate(backup / "lora" / "lora.safetensors")

    trainer = create_trainer(make_config(epochs=1, lora_model_name=str(backup),
                                         workspace_dir=str(tmp_path / "other")))
    with pytest.raises(BackupError) as caught:
        trainer.start()
    trainer.end()
    message = str(caught.value)
    assert "\n" not in message and str(backup) in message and "lora/lora.safetensors" in message
    assert caught.value.path == str(backup)

    # an unfinished folder, and a folder whose meta.json is cut, are refused the same way
    partial = backup.with_name(backup.name + ".partial")
    backup.rename(partial)
    trainer = create_trainer(make_config(epochs=1, lora_model_name=str(partial)))
    with pytest.raises(BackupError, match="unfinished"):
        trainer.start()
    trainer.end()


def test_the_command_line_shows_the_backup_error_in_one_line(make_config, tmp_path, capsys):
    from modules.cli.train import main

    broken = tmp_path / "broken-backup"
    (broken / "lora").mkdir(parents=True)
    (broken / "meta.json").write_text("{}")
    (broken / "lora" / "lora.safetensors").write_bytes(b"\0\0")
    config = make_config(epochs=1, lora_model_name=str(broken))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_pack_dict(secrets=False)))
    assert main(["--config-path", str(path)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if str(broken) in line]
    assert lines == [f"error: backup {broken} cannot be used: meta.json holds no train progress"]
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- folder saves
def test_a_failed_diffusers_save_keeps_the_previous_model(make_config, tmp_path, monkeypatch):
    from modules.config.enums import ModelFormat
    from modules.families.parts import diffusers_io

    trainer = run_training(make_config(method="FINE_TUNE", epochs=1, text_encoder__train=False))
    destination = Path(trainer.config.output_model_destination)
    assert (destination / "model_index.json").is_file()
    before = _snapshot(destination)

    with torch.no_grad():  # the next save would differ from the one on disk
        for p in trainer.method.trainable_parameters():
            p.add_(1.0)

    original = diffusers_io.save_folder

    def fails_midway(components, path, *args, **kwargs):
        first = dict(list(components.items())[:1])
        original(first, path, *args, **kwargs)  # one component written, then the disk is full
        raise OSError("no space left on device")

    monkeypatch.setattr(diffusers_io, "save_folder", fails_midway)
    with pytest.raises(OSError, match="no space"):
        trainer.method.save_final(str(destination), ModelFormat.DIFFUSERS, None, {})
    assert _snapshot(destination) == before
    assert sorted(p.name for p in destination.parent.iterdir()) == [destination.name]

    # a crash (no cleanup) leaves only the unfinished sibling; the next save removes it
    from modules.train import backups

    monkeypatch.setattr(backups, "discard", lambda path: None)
    with pytest.raises(OSError):
        trainer.method.save_final(str(destination), ModelFormat.DIFFUSERS, None, {})
    monkeypatch.undo()
    assert _snapshot(destination) == before
    assert (destination.parent / (destination.name + ".partial")).is_dir()

    trainer.method.save_final(str(destination), ModelFormat.DIFFUSERS, None, {})
    after = _snapshot(destination)
    assert after.keys() == before.keys() and after != before
    assert sorted(p.name for p in destination.parent.iterdir()) == [destination.name]


def test_a_fine_tune_backup_resumes_and_a_damaged_one_is_passed_over(make_config, tmp_path):
    from modules.train import TrainCallbacks, TrainCommands
    from modules.train.backups import backup_problem

    commands = TrainCommands()

    def stop_after_one(progress, max_step, max_epoch):
        if progress.global_step == 1:
            commands.stop()

    def config(**fields):
        return make_config(method="FINE_TUNE", epochs=2, text_encoder__train=False,
                           workspace_dir=str(tmp_path / "ws"), **fields)

    run_training(config(backup_before_save=True), TrainCallbacks(on_update_train_progress=stop_after_one), commands)
    (backup,) = (tmp_path / "ws" / "backup").iterdir()
    assert (backup / "model_index.json").is_file() and backup_problem(backup) is None
    resumed = run_training(config(continue_last_backup=True))
    assert resumed.loss_history[0][0] == 1 and not resumed.warnings

    weights = next((backup / "unet").glob("*.safetensors"))
    _truncate(weights, 0.9)
    statuses: list[str] = []
    fresh = run_training(config(continue_last_backup=True), TrainCallbacks(on_update_status=statuses.append))
    assert fresh.loss_history[0][0] == 0
    assert any(backup.name in s and f"unet/{weights.name}" in s for s in statuses if s.startswith("warning:"))
