"""Uploads with the system's `scp` (OpenSSH), the NATIVE_SCP file sync: the same login and host-key
trust as the SSH connection, the same changed files (planned over SFTP by `sync.plan_upload`).

scp runs from an argument list, never through a shell. Host keys come only from our known-hosts
file (the one the connection trusts); the user's SSH config is not read, so both ways log in
alike. A password reaches scp through an askpass program that prints it from scp's environment.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .connection import CONNECT_TIMEOUT
from .errors import CloudError
from .sync import SyncStats, Transfer, make_remote_dirs

FILES_PER_CALL = 200  # keeps each command line short
PASSWORD_ENV = "OT_SCP_PASSWORD"


@dataclass(frozen=True)
class ScpLogin:
    host: str
    port: int
    user: str
    key_file: str
    password: str
    known_hosts: Path


def available() -> bool:
    return shutil.which("scp") is not None


def _options(login: ScpLogin, control: str = "") -> list[str]:
    """The SSH options scp passes on: our known hosts only, the login's key or password, and (with
    `control`, a socket path) one connection shared by all the calls of a transfer."""
    known_hosts = os.path.abspath(login.known_hosts)  # quoted: ssh splits this option's value at spaces
    options = ["-F", "/dev/null", "-o", f'UserKnownHostsFile="{known_hosts}"', "-o", "GlobalKnownHostsFile=/dev/null",
               "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={int(CONNECT_TIMEOUT)}"]
    if login.key_file:
        options += ["-i", os.path.expanduser(login.key_file), "-o", "IdentitiesOnly=yes"]
    if not login.password:
        options += ["-o", "BatchMode=yes"]  # never a prompt
    elif not login.key_file:
        options += ["-o", "PubkeyAuthentication=no"]  # as the connection: the password alone
    if control:
        options += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}", "-o", "ControlPersist=30"]
    return options


def _host(login: ScpLogin) -> str:
    return f"{login.user}@[{login.host}]" if ":" in login.host else f"{login.user}@{login.host}"


def command(login: ScpLogin, sources: list[str], target: str, control: str = "") -> list[str]:
    """The scp argument list copying `sources` to the remote `target` (a folder ending in '/', or a file)."""
    return ["scp", "-p", "-P", str(login.port), *_options(login, control), "--", *sources, f"{_host(login)}:{target}"]


def send(login: ScpLogin, sftp, transfers: list[Transfer], stats: SyncStats) -> None:
    """Sends `transfers` with scp (`-p` keeps the modification time the next comparison reads); the
    remote folders are made over `sftp` first, since scp makes none."""
    groups: dict[str, list[Transfer]] = {}
    for transfer in transfers:
        same_name = posixpath.basename(transfer.remote) == os.path.basename(transfer.local)
        target = posixpath.dirname(transfer.remote) + "/" if same_name else transfer.remote
        groups.setdefault(target, []).append(transfer)
    with _environment(login) as (env, control):
        try:
            for target, group in groups.items():
                make_remote_dirs(sftp, target.rstrip("/") if target.endswith("/") else posixpath.dirname(target))
                for start in range(0, len(group), FILES_PER_CALL):
                    chunk = group[start:start + FILES_PER_CALL]
                    _run(command(login, [t.local for t in chunk], target, control), env, login)
                    stats.files_sent += len(chunk)
                    stats.bytes_sent += sum(t.size for t in chunk)
        finally:
            if groups:  # the shared connection ends with the transfer
                subprocess.run(["ssh", "-p", str(login.port), *_options(login, control), "-O", "exit", _host(login)],
                               env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def _run(argv: list[str], env: dict, login: ScpLogin) -> None:
    try:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except FileNotFoundError:
        raise CloudError("scp is not installed here (the OpenSSH client): install it or choose FABRIC_SFTP as the "
                         "file sync method") from None
    if done.returncode != 0:
        # ssh's reason first; scp's own last line ("Connection closed") says less
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise CloudError(f"scp to {login.user}@{login.host}:{login.port} failed: "
                         f"{'; '.join(lines) if lines else f'status {done.returncode}'}")


class _environment:
    """scp's environment and the path of its shared connection's socket, both in a private folder;
    with a password, an askpass program there that prints it."""

    def __init__(self, login: ScpLogin):
        self.login, self.folder = login, None

    def __enter__(self) -> tuple[dict, str]:
        env = dict(os.environ)
        self.folder = tempfile.mkdtemp(prefix="ot-scp-")  # owner-only
        control = str(Path(self.folder) / "connection")
        if not self.login.password:
            return env, control
        askpass = Path(self.folder) / "askpass"
        askpass.write_text(f'#!/bin/sh\nprintf "%s\\n" "${PASSWORD_ENV}"\n')
        askpass.chmod(0o700)
        env.update({PASSWORD_ENV: self.login.password, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"})
        return env, control

    def __exit__(self, *exc) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
