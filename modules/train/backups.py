"""Crash-safe folders: backups and folder-shaped models are written into a temporary sibling
(`<name>.partial`) and renamed into place once complete, so an interrupted write never leaves a
half-written folder under the final name. A backup is used only when that rename happened and a
cheap integrity check passes (meta.json parses; every safetensors header parses and its data length
matches the file; the optimizer state is present and a whole file)."""
from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modules.config.files import fsync_folder

PARTIAL_SUFFIX = ".partial"
REPLACED_SUFFIX = ".replaced"  # the previous folder while the new one takes its name
META = "meta.json"
OPTIMIZER_FILE = Path("optimizer") / "optimizer.pt"
EMA_FILE = Path("ema") / "ema.pt"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library refuses larger headers as well


class BackupError(Exception):
    """A backup folder that cannot be used; the message is one line naming the folder."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"backup {self.path} cannot be used: {self.reason}")


# ---------------------------------------------------------------------------------------- checks
def safetensors_problem(path: str | os.PathLike) -> str | None:
    """None when the header parses and the data length matches it, else a short reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "the file is truncated"
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_HEADER or 8 + length > size:
                return "the file is truncated"
            header = json.loads(f.read(length).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return "the header cannot be read"
    if not isinstance(header, dict):
        return "the header cannot be read"
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return "the header cannot be read"
        end = max(end, offsets[1])
    if size < 8 + length + end:
        return "the file is truncated"
    if size > 8 + length + end:
        return "the file is longer than its header says"
    return None


def _torch_file_problem(path: Path) -> str | None:
    """A torch.save file is a zip archive whose directory sits at its end: a cut file loses it."""
    try:
        if zipfile.is_zipfile(path):
            return None
        with open(path, "rb") as f:
            legacy = f.read(1) == b"\x80"  # an old pickle-format file: nothing cheap to check
    except OSError:
        return "cannot be read"
    return None if legacy else "is damaged or truncated"


def backup_problem(directory: str | os.PathLike) -> str | None:
    """Why a backup folder cannot be used (a short reason), or None when it looks complete."""
    directory = Path(directory)
    if directory.name.endswith(PARTIAL_SUFFIX):
        return "unfinished: its write was interrupted"
    if not directory.is_dir():
        return "not a folder" if directory.exists() else "does not exist"
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "meta.json is missing"
    except (OSError, ValueError, UnicodeDecodeError):
        return "meta.json cannot be read"
    if not isinstance(meta, dict) or not isinstance(meta.get("train_progress"), dict):
        return "meta.json holds no train progress"
    optimizer = directory / OPTIMIZER_FILE
    if not optimizer.is_file():
        return f"{OPTIMIZER_FILE.as_posix()} is missing"
    for name in (OPTIMIZER_FILE, EMA_FILE):
        if (directory / name).is_file():
            problem = _torch_file_problem(directory / name)
            if problem:
                return f"{name.as_posix()} {problem}"
    for file in sorted(directory.rglob("*")):
        relative = file.relative_to(directory).as_posix()
        if file.name.endswith(".safetensors") and file.is_file():
            problem = safetensors_problem(file)
            if problem:
                return f"{relative}: {problem}"
        elif file.name in ("model_index.json",) or file.name.endswith(".index.json"):
            try:
                json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                return f"{relative} cannot be read"
    return None


def check_backup(directory: str | os.PathLike) -> None:
    """Raise BackupError when the folder cannot be used as a backup."""
    problem = backup_problem(directory)
    if problem:
        raise BackupError(directory, problem)


def looks_like_backup(path: str | os.PathLike) -> bool:
    """A folder that was meant to be a backup: it carries backup files, or is an unfinished write."""
    path = Path(path)
    if path.name.endswith(PARTIAL_SUFFIX) and (path.is_dir() or not path.exists()):
        return True
    return path.is_dir() and any((path / marker).exists() for marker in (META, OPTIMIZER_FILE.parent,
                                                                           "onetrainer_config"))


# ---------------------------------------------------------------------------------------- listing
def _stem(name: str) -> str:
    return name[: -len(PARTIAL_SUFFIX)] if name.endswith(PARTIAL_SUFFIX) else name


def backup_folders(backup_root: str | os.PathLike) -> list[Path]:
    """The finished backup folders (renamed into place), oldest first."""
    root = Path(backup_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith((PARTIAL_SUFFIX, REPLACED_SUFFIX)))


def find_last_backup(backup_root: str | os.PathLike,
                     on_skip: Callable[[Path, str], None] | None = None) -> Path | None:
    """The newest complete backup; every newer folder passed over (an unfinished write, a damaged
    backup) is reported to `on_skip(folder, reason)`."""
    root = Path(backup_root)
    if not root.is_dir():
        return None
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.endswith(REPLACED_SUFFIX)]
    for folder in sorted(folders, key=lambda p: (_stem(p.name), p.name), reverse=True):
        problem = backup_problem(folder)
        if problem is None:
            return folder
        if on_skip is not None:
            on_skip(folder, problem)
    return None


def remove_partial(parent: str | os.PathLike) -> list[Path]:
    """Delete the unfinished folders a crash left in `parent`; returns them."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    left = [p for p in parent.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]
    for path in left:
        discard(path)
    return left


# ---------------------------------------------------------------------------------------- writing
def discard(path: str | os.PathLike) -> None:
    """Remove an unfinished folder (or file)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def sync_tree(root: str | os.PathLike) -> None:
    """Flush every file and folder below `root` to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    os.fsync(f.fileno())
            except OSError:
                pass
        fsync_folder(Path(folder))


def replace_folder(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Move the finished `source` to `destination`; an existing destination is replaced only now
    (it steps aside as `<name>.replaced`, which is deleted once the new folder holds the name)."""
    source, destination = Path(source), Path(destination)
    if destination.exists() or destination.is_symlink():
        aside = destination.with_name(destination.name + REPLACED_SUFFIX)
        discard(aside)
        os.replace(destination, aside)
        os.replace(source, destination)
        fsync_folder(destination.parent)
        discard(aside)
    else:
        os.replace(source, destination)
        fsync_folder(destination.parent)


def _restore_replaced(destination: Path) -> None:
    """A crash between the two renames of `replace_folder` left the previous folder aside: put it back."""
    aside = destination.with_name(destination.name + REPLACED_SUFFIX)
    if aside.exists() and not destination.exists():
        os.replace(aside, destination)
    elif aside.exists():
        discard(aside)


@contextmanager
def building_folder(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield `<destination>.partial` to write into; when the block ends without error the folder is
    flushed and renamed to `destination`, else removed. An existing destination stays untouched
    until the new folder is complete."""
    destination = Path(destination)
    partial = destination.with_name(destination.name + PARTIAL_SUFFIX)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _restore_replaced(destination)
    discard(partial)  # the leftover of an earlier crash
    try:
        yield partial
        if not partial.is_dir():
            raise FileNotFoundError(f"nothing was written to {partial}")
        sync_tree(partial)
        replace_folder(partial, destination)
    except BaseException:
        discard(partial)
        raise
