"""A throwaway OpenSSH server on 127.0.0.1: its own host key, key-only login as the current user
(the tests' and the bench's "remote machine" is a folder on this one). `password_login` starts one
that takes only a password, and only from the test user `PASSWORD_USER` (created locked by
tests/setup_system.sh), who has a random password while it runs."""
from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PASSWORD_USER = "ot-cloud-test"


class SSHDUnavailable(RuntimeError):
    pass


@dataclass
class SSHServer:
    host: str
    port: int
    user: str
    key_file: str
    host_public_key: str
    folder: Path
    password: str = ""

    def secrets(self, **changes):
        from modules.config.secrets_config import SecretsConfig

        secrets = SecretsConfig.default_values()
        secrets.cloud.host, secrets.cloud.port, secrets.cloud.user = self.host, str(self.port), self.user
        secrets.cloud.key_file, secrets.cloud.password = self.key_file, self.password
        for name, value in changes.items():
            setattr(secrets.cloud, name, value)
        return secrets


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextlib.contextmanager
def running_sshd(folder: Path, password_user: str = "", password: str = ""):
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        raise SSHDUnavailable("openssh-server is not installed (tests/setup_system.sh installs it)")
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    os.chmod(folder / "authorized_keys", 0o600)
    port = _free_port()
    login = ([f"AllowUsers {password_user}", "PasswordAuthentication yes", "PubkeyAuthentication no"]
             if password_user else ["PasswordAuthentication no", "PubkeyAuthentication yes"])
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", f"PidFile {folder / 'sshd.pid'}", *login,
        "KbdInteractiveAuthentication no", "PermitEmptyPasswords no",
        "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "MaxStartups 50",
        "AllowTcpForwarding yes", "X11Forwarding no", "Subsystem sftp internal-sftp", ""]))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # the privilege-separation folder sshd insists on
    with (folder / "sshd.log").open("w") as log:
        server = subprocess.Popen([SSHD, "-f", str(folder / "sshd_config"), "-D", "-e"], stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SSHDUnavailable(f"sshd did not start: {(folder / 'sshd.log').read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            if password_user:
                yield SSHServer("127.0.0.1", port, password_user, "", (folder / "host_key.pub").read_text(), folder,
                                password)
            else:
                yield SSHServer("127.0.0.1", port, getpass.getuser(), str(folder / "client_key"),
                                (folder / "host_key.pub").read_text(), folder)
        finally:
            server.terminate()
            server.wait(timeout=10)


@contextlib.contextmanager
def password_login(folder: Path):
    """A server taking only `PASSWORD_USER`'s password, a random one set for as long as it runs.

    The user is the machine's, so one such server runs at a time: another process (a parallel test
    worker, another test run) waits for the lock file instead of giving the user a password of its own."""
    try:
        pwd.getpwnam(PASSWORD_USER)
    except KeyError:
        raise SSHDUnavailable(f"no user {PASSWORD_USER} (tests/setup_system.sh creates it)") from None
    if os.geteuid() != 0 or not shutil.which("chpasswd") or not shutil.which("usermod"):
        raise SSHDUnavailable("setting a test password needs root and chpasswd")
    with open(Path(tempfile.gettempdir()) / f"{PASSWORD_USER}-password.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        password = secrets.token_urlsafe(18)
        subprocess.run(["chpasswd"], input=f"{PASSWORD_USER}:{password}\n", text=True, check=True)  # never in argv
        try:
            with running_sshd(folder, PASSWORD_USER, password) as server:
                yield server
        finally:
            subprocess.run(["usermod", "-p", "!", PASSWORD_USER], check=True)  # locked again


def owned_by(user: str, folder: Path) -> Path:
    """`folder` (made) belonging to `user`: a remote folder the password test user can write."""
    entry = pwd.getpwnam(user)
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def trust(server: SSHServer, data_dir: Path) -> Path:
    """`data_dir` with a known-hosts file that trusts `server`."""
    from modules.cloud.connection import fetch_host_key, known_hosts_path, trust_host_key

    trust_host_key(server.host, server.port, fetch_host_key(server.host, server.port), known_hosts_path(data_dir))
    return data_dir
