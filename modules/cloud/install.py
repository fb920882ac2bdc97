"""This project on the remote machine: with the default install command, the running version's own
source (its git-tracked files) is uploaded and set up there, so both sides speak the same protocol."""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import subprocess
import tarfile
from pathlib import Path

from .connection import Connection, quote
from .errors import CloudError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = ".ot-source-version"
PYTHON_ENV = "OT_CLOUD_PYTHON"  # a python already set up on the remote machine: no set-up there (tests use it)


def is_default_install(config) -> bool:
    from modules.config.cloud_config import CloudConfig

    return config.cloud.install_cmd.strip() in ("", CloudConfig.get_field("install_cmd").default)


def project_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The source that runs here: the git-tracked files present on disk and the packages' python files
    (new ones included; nothing else that git does not track, such as the data of a run, goes)."""
    names = [str(p.relative_to(root)) for folder in ("modules", "ot_nicegui") for p in (root / folder).rglob("*.py")
             if "__pycache__" not in p.parts]
    names += ["pyproject.toml"]
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        names += [n for n in listed.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        pass  # not a git checkout: the packages alone
    names = sorted(set(names))
    return [n for n in names if (root / n).is_file()]


def source_archive(root: Path = PROJECT_ROOT) -> tuple[bytes, str]:
    """A gzip tarball of the source and its version (a hash of names and contents)."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in project_files(root):
            data = (root / name).read_bytes()
            digest.update(name.encode() + b"\0" + data)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digest.hexdigest()[:16]


def remote_python(config) -> str:
    return os.environ.get(PYTHON_ENV) or posixpath.join(config.cloud.onetrainer_dir, ".venv", "bin", "python")


def prepare(connection: Connection, config, status=lambda text: None) -> str:
    """Installs or updates the trainer on the remote machine as the config asks; its python."""
    cloud = config.cloud
    target = cloud.onetrainer_dir
    present = connection.run(f"test -d {quote(target)}", check=False)[0] == 0
    if not present and not cloud.install_onetrainer:
        raise CloudError(f"{target} does not exist on the remote machine and installing is off")
    if not is_default_install(config):
        if not present:
            status("installing on the remote machine")
            connection.run(f"mkdir -p {quote(cloud.remote_dir)} && cd {quote(cloud.remote_dir)} && {cloud.install_cmd}")
        return remote_python(config)
    archive, version = source_archive()
    installed = connection.run(f"cat {quote(posixpath.join(target, VERSION_FILE))}", check=False)[1].strip()
    if present and (installed == version or not cloud.update_onetrainer):
        return remote_python(config)
    status("uploading the trainer to the remote machine")
    connection.run(f"mkdir -p {quote(target)}")
    upload = posixpath.join(target, ".ot-source.tar.gz")
    with connection.sftp.open(upload, "wb") as handle:
        handle.write(archive)
    connection.run(f"cd {quote(target)} && tar -xzf .ot-source.tar.gz && rm .ot-source.tar.gz")
    if not os.environ.get(PYTHON_ENV):
        status("setting up the trainer on the remote machine")
        connection.run(f"cd {quote(target)} && (test -x .venv/bin/python || python3 -m venv .venv) && "
                       ".venv/bin/pip install -q torch && .venv/bin/pip install -q -e '.[train,cloud]'")
    connection.run(f"echo {version} > {quote(posixpath.join(target, VERSION_FILE))}")
    return remote_python(config)
