"""Password login (`secrets.cloud.password` instead of a key) against a server that takes only a
password, from a user of its own: commands, transfers and a remote run's start work; a wrong
password is one line."""
from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from modules.cloud.connection import Connection, known_hosts_path
from modules.cloud.errors import CloudError

from .helpers import cloud_config, files_containing, tree_digest
from .sshd import owned_by, trust


@pytest.fixture
def remote_folder(password_server):
    """A folder of the password user's own (the tests' folders are readable by this user only)."""
    folder = owned_by(password_server.user, Path(tempfile.mkdtemp(prefix="ot-cloud-remote-")))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _connect(server, data_dir, **changes):
    cloud = server.secrets(**changes).cloud
    return Connection(cloud.host, int(cloud.port), cloud.user, key_file=cloud.key_file, password=cloud.password,
                      known_hosts=known_hosts_path(data_dir))


def test_password_login_runs_commands_and_transfers_files(password_server, tmp_path, remote_folder):
    from modules.cloud.sync import upload

    data_dir = trust(password_server, tmp_path / "data")
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    for i in range(6):
        (local / ("sub" if i % 2 else "") / f"f{i}.bin").write_bytes(os.urandom(500 + i))
    target = remote_folder / "ws" / "data"
    connection = _connect(password_server, data_dir)
    try:
        assert connection.run("whoami")[1].split() == [password_server.user]
        first = upload(connection.sftp, str(local), str(target))
        assert first.files_sent == 6 and upload(connection.sftp, str(local), str(target)).files_skipped == 6
    finally:
        connection.close()
    assert tree_digest(target) == tree_digest(local)
    assert {pwd.getpwuid(p.stat().st_uid).pw_name for p in target.rglob("*")} == {password_server.user}


def test_a_wrong_password_is_refused_in_one_line(password_server, tmp_path, monkeypatch):
    data_dir = trust(password_server, tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys and no agent to fall back on
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(CloudError, match="authentication refused by ot-cloud-test@127.0.0.1:.*the password") as caught:
        _connect(password_server, data_dir, password=password_server.password + "x")
    assert "\n" not in str(caught.value) and password_server.password not in str(caught.value)
    with pytest.raises(CloudError, match="no login for .*set an SSH key file or a password"):
        _connect(password_server, data_dir, password="")


def test_a_cloud_run_starts_with_a_password_login(make_config, password_server, tmp_path, remote_folder, image_dir,
                                                  monkeypatch):
    """Install, upload and the remote trainer's start as the password user; its python there has no
    torch (this machine's training python is not readable by that user), so the remote trainer refuses
    to train and says why."""
    from modules.cloud.trainer import CloudTrainer

    data_dir = trust(password_server, tmp_path / "data")
    monkeypatch.setenv("OT_CLOUD_PYTHON", "/usr/bin/python3")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system python for the password user")
    remote = remote_folder / "machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    config.secrets = password_server.secrets()
    trainer = CloudTrainer(config, data_dir=str(data_dir))
    trainer.start()
    try:
        with pytest.raises(CloudError, match=r"the remote run failed \(exit 2\): error: .*this install has no local "
                                             "training"):
            trainer.train()
    finally:
        trainer.end()
    uploaded = remote / "remote" / image_dir.lstrip("/")
    assert tree_digest(uploaded) == tree_digest(image_dir)
    events = remote / "runs" / "test-run" / "events.jsonl"
    assert pwd.getpwuid(events.stat().st_uid).pw_name == password_server.user  # the trainer ran as that user
    assert files_containing(remote, password_server.password.encode()) == []  # the login stays here


def test_a_remote_folder_the_login_may_not_write_is_refused_in_one_line(make_config, password_server, tmp_path,
                                                                          remote_folder, monkeypatch):
    from modules.cloud.trainer import CloudTrainer
    from modules.config.enums import CloudFileSync

    data_dir = trust(password_server, tmp_path / "data")
    monkeypatch.setenv("OT_CLOUD_PYTHON", "/usr/bin/python3")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system python for the password user")
    theirs = Path(tempfile.mkdtemp(prefix="ot-cloud-not-yours-"))  # this user's, readable by all, writable by none else
    theirs.chmod(0o755)
    try:
        config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), theirs / "machine")
        config.secrets = password_server.secrets()
        trainer = CloudTrainer(config, data_dir=str(data_dir))
        with pytest.raises(CloudError, match=f"ot-cloud-test may not write to {theirs} on the remote machine") as caught:
            trainer.start()
        trainer.end()
        assert "\n" not in str(caught.value) and list(theirs.iterdir()) == []

        # a writable folder with one sub-folder that is not: the upload stops with one line
        config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote_folder / "machine",
                              file_sync=CloudFileSync.FABRIC_SFTP)
        config.secrets = password_server.secrets()
        owned_by(password_server.user, remote_folder / "machine")
        (remote_folder / "machine" / "remote").mkdir(mode=0o755)  # this user's, not the login's
        trainer = CloudTrainer(config, data_dir=str(data_dir))
        with pytest.raises(CloudError, match=r"uploading .* on the remote machine failed: .*Permission denied") as caught:
            trainer.start()
        trainer.end()
        assert "\n" not in str(caught.value)
    finally:
        shutil.rmtree(theirs, ignore_errors=True)
