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


@dataclass(frozen=True)
class Transfer:
    """One file to send: its local path, its remote path and its size."""

    local: str
    remote: str
    size: int


def plan_upload(sftp, local: str, remote: str, stats: SyncStats | None = None) -> list[Transfer]:
    """The files of the file or folder `local` that `remote` lacks or has with another size or time
    (hidden folders left out); the unchanged ones are counted in `stats`. Nothing is changed there."""
    stats = stats if stats is not None else SyncStats()
    if os.path.isfile(local):
        pairs = [(local, remote)]
    else:
        pairs = []
        for folder, dirs, files in os.walk(local):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            relative = os.path.relpath(folder, local)
            target = remote if relative == "." else posixpath.join(remote, relative.replace(os.sep, "/"))
            pairs += [(os.path.join(folder, name), posixpath.join(target, name)) for name in sorted(files)]
    listings: dict[str, dict[str, tuple[int, int]]] = {}
    transfers = []
    for source, target in pairs:
        folder = posixpath.dirname(target)
        if folder not in listings:
            listings[folder] = _remote_listing(sftp, folder)
        info = os.stat(source)
        if listings[folder].get(posixpath.basename(target)) == (info.st_size, int(info.st_mtime)):
            stats.files_skipped += 1
        else:
            transfers.append(Transfer(source, target, info.st_size))
    return transfers


def send_sftp(sftp, transfers: list[Transfer], stats: SyncStats) -> None:
    """Sends `transfers` over SFTP, each with its modification time (what the next comparison reads)."""
    made: set[str] = set()
    for transfer in transfers:
        if posixpath.dirname(transfer.remote) not in made:
            make_remote_dirs(sftp, posixpath.dirname(transfer.remote))
            made.add(posixpath.dirname(transfer.remote))
        info = os.stat(transfer.local)
        sftp.put(transfer.local, transfer.remote)
        sftp.utime(transfer.remote, (info.st_atime, info.st_mtime))
        stats.files_sent += 1
        stats.bytes_sent += info.st_size


def upload(sftp, local: str, remote: str, stats: SyncStats | None = None) -> SyncStats:
    """Copies the file or folder `local` to `remote` over SFTP, sending only changed files."""
    stats = stats if stats is not None else SyncStats()
    send_sftp(sftp, plan_upload(sftp, local, remote, stats), stats)
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
