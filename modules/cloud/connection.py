"""One SSH connection to the remote machine (paramiko): commands, SFTP, and the known-hosts check.

Host keys are checked against a known-hosts file of our own (in the data folder), never accepted
silently: an unknown key raises `UnknownHostKey` with its fingerprint, which the user confirms.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shlex
import socket
from pathlib import Path

import paramiko

from .errors import CloudError, UnknownHostKey

KNOWN_HOSTS_FILE = "cloud_known_hosts"
CONNECT_TIMEOUT = 15.0


# the folder of secrets.json: the CLI's current folder, or the app's data folder (set by its Cloud tab)
default_data_dir: str | os.PathLike = os.environ.get("OT_DATA_DIR", ".")


def known_hosts_path(data_dir: str | os.PathLike | None = None) -> Path:
    return Path(default_data_dir if data_dir is None else data_dir) / KNOWN_HOSTS_FILE


def is_trusted(host: str, port: int, key: paramiko.PKey, known_hosts: Path) -> bool:
    found = _load_known(known_hosts).lookup(_host_entry(host, port))
    return found is not None and found.get(key.get_name()) == key


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256 of the key blob, base64 without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _host_entry(host: str, port: int) -> str:
    return host if int(port) == 22 else f"[{host}]:{port}"


def _load_known(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    return keys


def fetch_host_key(host: str, port: int) -> paramiko.PKey:
    """The key the server presents (no authentication)."""
    try:
        sock = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise CloudError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=CONNECT_TIMEOUT)
        return transport.get_remote_server_key()
    except paramiko.SSHException as exc:
        raise CloudError(f"{host}:{port} does not speak SSH: {exc}") from None
    finally:
        transport.close()


def trust_host_key(host: str, port: int, key: paramiko.PKey, known_hosts: Path) -> None:
    """Adds `key` to the known-hosts file (created owner-only)."""
    keys = _load_known(known_hosts)
    keys.add(_host_entry(host, port), key.get_name(), key)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    keys.save(str(known_hosts))
    os.chmod(known_hosts, 0o600)


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        host, _, port = hostname.rpartition("]:") if hostname.startswith("[") else (hostname, "", "22")
        raise UnknownHostKey(host.lstrip("["), int(port), key.get_name(), fingerprint(key), str(self.known_hosts))


class Connection:
    """An authenticated SSH session; `run` executes a command, `sftp` transfers files."""

    def __init__(self, host: str, port: int, user: str, *, key_file: str = "", password: str = "",
                 known_hosts: Path):
        if not host:
            raise CloudError("no SSH host: set it on the Cloud tab (stored in secrets.json)")
        self.host, self.port, self.user = host, int(port or 22), user or "root"
        self.client = paramiko.SSHClient()
        if known_hosts.is_file():
            self.client.load_host_keys(str(known_hosts))
        self.client.set_missing_host_key_policy(_RefuseUnknown(known_hosts))
        where = f"{self.user}@{self.host}:{self.port}"
        try:
            self.client.connect(self.host, self.port, self.user, password=password or None,
                                key_filename=os.path.expanduser(key_file) if key_file else None,
                                look_for_keys=not (key_file or password), allow_agent=not (key_file or password),
                                timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT)
        except UnknownHostKey:
            raise
        except paramiko.BadHostKeyException as exc:
            raise UnknownHostKey(self.host, self.port, exc.key.get_name(), fingerprint(exc.key), str(known_hosts),
                                 changed=True) from None
        except paramiko.AuthenticationException:
            tried = " and ".join(n for n, v in (("the key file", key_file), ("the password", password)) if v)
            raise CloudError(f"authentication refused by {where}: check the user and "
                             f"{tried or 'your SSH agent or ~/.ssh keys'}") from None
        except FileNotFoundError:
            raise CloudError(f"SSH key file not found: {key_file}") from None
        except OSError as exc:  # unreachable, refused, timed out
            raise CloudError(f"cannot reach {self.host}:{self.port}: {getattr(exc, 'strerror', None) or exc}") from None
        except paramiko.SSHException as exc:
            if "no authentication methods" in str(exc).lower():
                raise CloudError(f"no login for {where}: set an SSH key file or a password (no SSH agent or "
                                 "~/.ssh key was found)") from None
            raise CloudError(f"SSH to {where} failed: {exc}") from None
        # small writes (an SFTP request a file) go out at once instead of waiting for the last one's ack
        self.client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except paramiko.SSHException as exc:
                raise CloudError(f"{self.host}:{self.port} offers no SFTP for file transfers ({exc})") from None
        return self._sftp

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> tuple[int, str]:
        """Runs `command` with sh; returns (exit status, stdout+stderr)."""
        _, stdout, _ = self.client.exec_command(command, timeout=timeout, get_pty=False)
        stdout.channel.set_combine_stderr(True)
        output = stdout.read().decode(errors="replace")
        status = stdout.channel.recv_exit_status()
        if check and status != 0:
            last = output.strip().splitlines()[-1] if output.strip() else "no output"
            raise CloudError(f"remote command failed ({status}): {last}")
        return status, output

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.client.close()


def quote(path: str) -> str:
    return shlex.quote(str(path))
