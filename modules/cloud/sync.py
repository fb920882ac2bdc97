"""Folder transfers over SFTP that send only what changed: a file is skipped when the other side
has it with the same size and modification time (the time is copied with each transfer)."""
from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass


@dataclass
class SyncStats:
    files_sent: int = 0
    files_skipped: int = 0
    bytes_sent: int = 0


def _remote_listing(sftp, folder: str) -> dict[str, tuple[int, int]]:
    try:
        return {a.filename: (a.st_size, int(a.st_mtime)) for a in sftp.listdir_attr(folder) if not stat.S_ISDIR(a.st_mode)}
    except FileNotFoundError:
        return {}


def make_remote_dirs(sftp, folder: str) -> None:
    missing = []
    while folder not in ("", "/"):
        try:
            sftp.stat(folder)
            break
        except FileNotFoundError:
            missing.append(folder)
            folder = posixpath.dirname(folder)
    for path in reversed(missing):
        sftp.mkdir(path)


def _put(sftp, local: str, remote: str, stats: SyncStats) -> None:
    info = os.stat(local)
    sftp.put(local, remote)
    sftp.utime(remote, (info.st_atime, info.st_mtime))
    stats.files_sent += 1
    stats.bytes_sent += info.st_size


def upload(sftp, local: str, remote: str, stats: SyncStats | None = None) -> SyncStats:
    """Copies the file or folder `local` to `remote`, sending only changed files."""
    stats = stats or SyncStats()
    if os.path.isfile(local):
        make_remote_dirs(sftp, posixpath.dirname(remote))
        info = os.stat(local)
        there = _remote_listing(sftp, posixpath.dirname(remote)).get(posixpath.basename(remote))
        if there == (info.st_size, int(info.st_mtime)):
            stats.files_skipped += 1
        else:
            _put(sftp, local, remote, stats)
        return stats
    for folder, dirs, files in os.walk(local):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(folder, local)
        target = remote if relative == "." else posixpath.join(remote, relative.replace(os.sep, "/"))
        make_remote_dirs(sftp, target)
        listing = _remote_listing(sftp, target)
        for name in sorted(files):
            path = os.path.join(folder, name)
            info = os.stat(path)
            if listing.get(name) == (info.st_size, int(info.st_mtime)):
                stats.files_skipped += 1
            else:
                _put(sftp, path, posixpath.join(target, name), stats)
    return stats


def download(sftp, remote: str, local: str) -> int:
    """Copies the remote file or folder `remote` to `local` (changed files only); the number of files copied."""
    try:
        attributes = sftp.stat(remote)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(attributes.st_mode):
        return _get(sftp, remote, local, attributes)
    copied = 0
    for entry in sftp.listdir_attr(remote):
        source, target = posixpath.join(remote, entry.filename), os.path.join(local, entry.filename)
        if stat.S_ISDIR(entry.st_mode):
            copied += download(sftp, source, target)
        else:
            copied += _get(sftp, source, target, entry)
    return copied


def _get(sftp, remote: str, local: str, attributes) -> int:
    if os.path.isfile(local):
        info = os.stat(local)
        if (info.st_size, int(info.st_mtime)) == (attributes.st_size, int(attributes.st_mtime)):
            return 0
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    partial = local + ".partial"
    sftp.get(remote, partial)
    os.utime(partial, (attributes.st_atime, attributes.st_mtime))
    os.replace(partial, local)  # a broken transfer never leaves half a file under the real name
    return 1
