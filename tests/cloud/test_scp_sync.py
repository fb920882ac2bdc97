"""NATIVE_SCP: uploads with the system's scp give the same remote tree as SFTP (FABRIC_SFTP), send
only changed files, never go through a shell, and log in with a key or a password."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from modules.cloud.connection import Connection, known_hosts_path
from modules.cloud.sync import SyncStats, plan_upload, upload

from .helpers import tree_digest
from .sshd import owned_by, trust

pytestmark = pytest.mark.skipif(shutil.which("scp") is None, reason="no scp (openssh-client)")

ODD = "odd name; $(touch pwned) 'q'.bin"  # a shell would run the command in it


def _login(server, data_dir):
    from modules.cloud.scp import ScpLogin

    return ScpLogin(server.host, server.port, server.user, server.key_file, server.password, known_hosts_path(data_dir))


def _connect(server, data_dir):
    return Connection(server.host, server.port, server.user, key_file=server.key_file, password=server.password,
                      known_hosts=known_hosts_path(data_dir))


def _local_tree(root: Path) -> Path:
    (root / "sub dir" / "deeper").mkdir(parents=True)
    for i in range(12):
        folder = [root, root / "sub dir", root / "sub dir" / "deeper"][i % 3]
        (folder / f"f{i}.bin").write_bytes(os.urandom(700 + i))
    (root / ODD).write_bytes(b"odd")
    return root


def _scp_upload(server, data_dir, connection, local, remote) -> SyncStats:
    from modules.cloud import scp

    stats = SyncStats()
    scp.send(_login(server, data_dir), connection.sftp, plan_upload(connection.sftp, str(local), str(remote), stats),
             stats)
    return stats


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): int(p.stat().st_mtime) for p in folder.rglob("*") if p.is_file()}


def test_scp_and_sftp_give_the_same_remote_tree_and_send_only_changes(ssh_server, trusted, tmp_path, monkeypatch):
    local = _local_tree(tmp_path / "local")
    by_sftp, by_scp = tmp_path / "remote-sftp" / "data", tmp_path / "remote-scp" / "data"
    monkeypatch.chdir(tmp_path)  # where a shell would have made the file `pwned`
    connection = _connect(ssh_server, trusted)
    try:
        sent = upload(connection.sftp, str(local), str(by_sftp))
        first = _scp_upload(ssh_server, trusted, connection, local, by_scp)
        assert (first.files_sent, first.bytes_sent) == (sent.files_sent, sent.bytes_sent) == (13, tree_bytes(local))
        assert tree_digest(by_scp) == tree_digest(by_sftp) == tree_digest(local)
        assert _mtimes(by_scp) == _mtimes(by_sftp) == _mtimes(local)  # what the next comparison reads
        assert not list(tmp_path.rglob("pwned")) and not list(Path.home().glob("pwned"))

        again = _scp_upload(ssh_server, trusted, connection, local, by_scp)
        assert (again.files_sent, again.files_skipped) == (0, 13)
        changed = local / "sub dir" / "f1.bin"
        changed.write_bytes(os.urandom(4321))
        third = _scp_upload(ssh_server, trusted, connection, local, by_scp)
        assert (third.files_sent, third.files_skipped, third.bytes_sent) == (1, 12, 4321)
        assert (by_scp / "sub dir" / "f1.bin").read_bytes() == changed.read_bytes()
    finally:
        connection.close()


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_scp_with_a_password_login(password_server, tmp_path):
    local = _local_tree(tmp_path / "local")
    data_dir = trust(password_server, tmp_path / "data folder")  # a space in the known-hosts path too
    remote_root = owned_by(password_server.user, Path(tempfile.mkdtemp(prefix="ot-cloud-remote-")))
    try:
        connection = _connect(password_server, data_dir)
        try:
            stats = _scp_upload(password_server, data_dir, connection, local, remote_root / "data")
        finally:
            connection.close()
        assert stats.files_sent == 13 and tree_digest(remote_root / "data") == tree_digest(local)
    finally:
        shutil.rmtree(remote_root, ignore_errors=True)


def test_scp_refuses_an_untrusted_host_and_a_wrong_login_in_one_line(ssh_server, trusted, tmp_path):
    from dataclasses import replace

    from modules.cloud import scp
    from modules.cloud.errors import CloudError

    local = _local_tree(tmp_path / "local")
    connection = _connect(ssh_server, trusted)
    try:
        transfers = plan_upload(connection.sftp, str(local), str(tmp_path / "remote"))
        untrusted = replace(_login(ssh_server, trusted), known_hosts=tmp_path / "empty_known_hosts")
        with pytest.raises(CloudError, match="scp to .* failed: .*Host key verification failed") as caught:
            scp.send(untrusted, connection.sftp, transfers, SyncStats())
        assert "\n" not in str(caught.value)
        (tmp_path / "keys").mkdir()
        other = tmp_path / "keys" / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        with pytest.raises(CloudError, match="scp to .* failed: .*Permission denied"):
            scp.send(replace(_login(ssh_server, trusted), key_file=str(other)), connection.sftp, transfers, SyncStats())
    finally:
        connection.close()
    assert not list(tmp_path.glob("remote/**/*.bin"))  # nothing went
