"""Checks of the remote machine before anything is uploaded: a Python the trainer can run on, and
the disk space the run needs. Each refusal is one line naming the cause."""
from __future__ import annotations

import os
import re

from .connection import Connection, quote
from .errors import CloudError

MIN_PYTHON = (3, 11)  # the project's requires-python
RESERVE_BYTES = 2 * 1024**3  # room for what the run writes (model, samples, backups, logs)
SETUP_BYTES = 8 * 1024**3  # a new virtual environment with torch and the training packages


def python_of_run(connection: Connection, config) -> tuple[str, bool]:
    """The python the remote run will use, and whether a new environment is set up first (then the
    python that creates it is the one to check)."""
    from .install import PYTHON_ENV, remote_python

    if os.environ.get(PYTHON_ENV):
        return os.environ[PYTHON_ENV], False
    python = remote_python(config)
    if connection.run(f"test -x {quote(python)}", check=False)[0] == 0:
        return python, False
    return "python3", True


def python_version(connection: Connection, python: str) -> tuple[int, ...] | None:
    """The version of `python` on the remote machine; None when it is missing or does not run."""
    script = quote('import sys; print("%d.%d.%d" % sys.version_info[:3])')
    status, output = connection.run(f"{quote(python)} -c {script}", check=False)
    found = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", output.strip().splitlines()[-1] if output.strip() else "")
    return tuple(int(part) for part in found.groups()) if status == 0 and found else None


def free_space(connection: Connection, folder: str) -> tuple[int, str, bool]:
    """Bytes free for `folder` (or, while it does not exist, for the nearest folder above it), that
    folder, and whether the login may write there."""
    command = (f"d={quote(folder)}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; "
               "echo \"$d\"; if [ -w \"$d\" ]; then echo writable; else echo read-only; fi; df -Pk \"$d\" | tail -n 1")
    lines = connection.run(command)[1].strip().splitlines()
    try:
        return int(lines[-1].split()[3]) * 1024, lines[0], lines[1] == "writable"
    except (IndexError, ValueError):
        raise CloudError(f"cannot read the free disk space of {folder} on the remote machine") from None


def check(connection: Connection, config, upload_bytes: int) -> None:
    """Refuses a remote machine the run cannot use; `upload_bytes`: what the upload will send."""
    python, fresh = python_of_run(connection, config)
    version = python_version(connection, python)
    wanted = ".".join(map(str, MIN_PYTHON))
    if version is None:
        raise CloudError(f"the remote machine has no Python {wanted} or newer: {python} was not found or does not run")
    if version[:2] < MIN_PYTHON:
        raise CloudError(f"the remote machine has no Python {wanted} or newer: {python} is "
                         f"{'.'.join(map(str, version))}")
    needed = upload_bytes + RESERVE_BYTES + (SETUP_BYTES if fresh else 0)
    free, where, writable = free_space(connection, config.cloud.remote_dir)
    if not writable:
        raise CloudError(f"{connection.user} may not write to {where} on the remote machine: choose a Remote folder "
                         "there that this login can write")
    if free < needed:
        parts = [f"{_gb(upload_bytes)} to upload"] + ([f"{_gb(SETUP_BYTES)} to set up the trainer"] if fresh else [])
        parts.append(f"{_gb(RESERVE_BYTES)} for what it writes")
        raise CloudError(f"not enough disk space on the remote machine: {_gb(free)} free in {where}, the run "
                         f"needs about {_gb(needed)} ({', '.join(parts)})")


def _gb(size: int) -> str:
    return f"{size / 1024**3:.1f} GB"

