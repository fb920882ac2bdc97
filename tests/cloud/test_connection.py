"""SSH connections to a real OpenSSH server: login, and every way it can fail in one line."""
from __future__ import annotations

import subprocess
import sys

import pytest

from modules.cloud.connection import Connection, fetch_host_key, fingerprint, known_hosts_path
from modules.cloud.errors import CloudError, UnknownHostKey


def _connect(server, data_dir, **changes):
    cloud = server.secrets(**changes).cloud
    return Connection(cloud.host, int(cloud.port), cloud.user, key_file=cloud.key_file, password=cloud.password,
                      known_hosts=known_hosts_path(data_dir))


def _ssh_keygen_fingerprint(public_key: str, tmp_path) -> str:
    path = tmp_path / "host.pub"
    path.write_text(public_key)
    return subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True).stdout.split()[1]


def test_login_with_a_trusted_key_runs_commands(ssh_server, trusted):
    connection = _connect(ssh_server, trusted)
    try:
        status, output = connection.run("echo $((6 * 7)); whoami")
        assert status == 0 and output.split() == ["42", ssh_server.user]
        assert connection.run("exit 3", check=False)[0] == 3
        with pytest.raises(CloudError, match=r"remote command failed \(3\)"):
            connection.run("echo boom; exit 3")
    finally:
        connection.close()


def test_unknown_host_key_is_refused_with_the_fingerprint_ssh_keygen_shows(ssh_server, tmp_path):
    expected = _ssh_keygen_fingerprint(ssh_server.host_public_key, tmp_path)
    with pytest.raises(UnknownHostKey) as caught:
        _connect(ssh_server, tmp_path)
    assert caught.value.fingerprint == expected
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert not known_hosts_path(tmp_path).exists()  # nothing trusted behind the user's back


def test_hostkey_cli_trusts_only_the_confirmed_fingerprint(ssh_server, tmp_path):
    expected = _ssh_keygen_fingerprint(ssh_server.host_public_key, tmp_path)
    base = [sys.executable, "-m", "modules.cloud.hostkey", "--host", ssh_server.host, "--port", str(ssh_server.port),
            "--data-dir", str(tmp_path)]
    shown = subprocess.run(base, capture_output=True, text=True)
    assert shown.returncode == 0 and expected in shown.stdout
    wrong = subprocess.run(base + ["--accept", "SHA256:" + "A" * 43], capture_output=True, text=True)
    assert wrong.returncode == 1 and "nothing trusted" in wrong.stderr and not known_hosts_path(tmp_path).exists()
    accepted = subprocess.run(base + ["--accept", expected], capture_output=True, text=True)
    assert accepted.returncode == 0, accepted.stderr
    connection = _connect(ssh_server, tmp_path)  # now trusted
    connection.close()


def test_a_changed_host_key_is_refused(ssh_server, trusted, tmp_path_factory):
    import paramiko

    other = paramiko.RSAKey.generate(1024)
    path = known_hosts_path(trusted)
    path.write_text(f"[{ssh_server.host}]:{ssh_server.port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(UnknownHostKey, match="changed") as caught:
        _connect(ssh_server, trusted)
    assert caught.value.fingerprint == fingerprint(fetch_host_key(ssh_server.host, ssh_server.port))


def test_wrong_key_is_refused_in_one_line(ssh_server, trusted, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    with pytest.raises(CloudError, match="authentication refused by .*the key file") as caught:
        _connect(ssh_server, trusted, key_file=str(tmp_path / "other"))
    assert "\n" not in str(caught.value)


def test_missing_key_file_and_unreachable_port(ssh_server, trusted):
    with pytest.raises(CloudError, match="key file not found"):
        _connect(ssh_server, trusted, key_file=str(trusted / "missing"))
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(CloudError, match=f"cannot reach 127.0.0.1:{closed}"):
        _connect(ssh_server, trusted, port=str(closed))
    with pytest.raises(CloudError, match="no SSH host"):
        _connect(ssh_server, trusted, host="")


def test_cli_refuses_an_unknown_host_in_one_line_with_the_fingerprint(make_config, ssh_server, tmp_path):
    from .helpers import cloud_config, run_cli, write_run_files

    expected = _ssh_keygen_fingerprint(ssh_server.host_public_key, tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), tmp_path / "remote-machine")
    result = run_cli(*write_run_files(config, ssh_server, data_dir), data_dir)
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and expected in error[0] and "--accept" in error[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "remote-machine").exists()  # nothing reached the remote machine
