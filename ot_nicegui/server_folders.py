"""The server's folders as the path picker lists them. Paths relative to the working folder stay
relative, so configs stay portable."""
from __future__ import annotations

import os
from pathlib import Path

MAX_ENTRIES = 500  # a folder with more entries is cut off; the path can still be typed


def list_folder(folder: Path, dirs_only: bool) -> tuple[list[Path], list[Path], bool]:
    """(sub-folders, files, truncated) of `folder`, hidden entries left out, sorted by name."""
    dirs: list[Path] = []
    files: list[Path] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith('.'):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    dirs.append(Path(entry.path))
                elif not dirs_only:
                    files.append(Path(entry.path))
    except OSError:
        return [], [], False
    dirs.sort(key=lambda p: p.name.lower())
    files.sort(key=lambda p: p.name.lower())
    truncated = len(dirs) + len(files) > MAX_ENTRIES
    return dirs[:MAX_ENTRIES], files[:max(0, MAX_ENTRIES - len(dirs))], truncated


def display_path(path: Path) -> str:
    """Relative to the working folder when inside it (configs stay portable), else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or '.'
    except ValueError:
        return str(path.resolve())


def start_folder(current: str) -> Path:
    path = Path(current).expanduser() if current else Path.cwd()
    while not path.is_dir():
        if path.parent == path:
            return Path.cwd()
        path = path.parent
    return path.resolve()
