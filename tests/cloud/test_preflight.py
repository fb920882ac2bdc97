"""Before any upload the remote machine is checked: a Python 3.11 or newer for the trainer, and the
disk space the run needs. A machine that fails either is refused in one line and gets nothing."""
from __future__ import annotations

import shutil
import sys

import pytest

from .helpers import cloud_config


def _start(config, data_dir):
    from modules.cloud.trainer import CloudTrainer

    trainer = CloudTrainer(config, data_dir=str(data_dir))
    try:
        trainer.start()
    finally:
        trainer.end()


def _nothing_arrived(remote):
    return not (remote / "remote").exists() and not (remote / "OneTrainer").exists() and not (remote / "runs").exists()


def test_a_remote_python_older_than_3_11_or_missing_is_refused_before_the_upload(make_config, ssh_server, trusted,
                                                                                    tmp_path, monkeypatch):
    from modules.cloud.errors import CloudError

    old = tmp_path / "old-python"  # a python that reports an old version, as a machine with 3.8 would
    old.write_text("#!/bin/sh\necho 3.8.10\n")
    old.chmod(0o755)
    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    config.secrets = ssh_server.secrets()

    monkeypatch.setenv("OT_CLOUD_PYTHON", str(old))
    with pytest.raises(CloudError, match=rf"no Python 3\.11 or newer: {old} is 3\.8\.10$") as caught:
        _start(config, trusted)
    assert "\n" not in str(caught.value) and _nothing_arrived(remote)

    monkeypatch.setenv("OT_CLOUD_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(CloudError, match="no Python 3.11 or newer: .*no-such-python was not found"):
        _start(config, trusted)
    assert _nothing_arrived(remote)


def test_a_remote_without_the_disk_space_the_run_needs_is_refused_before_the_upload(make_config, ssh_server, trusted,
                                                                                      tmp_path, monkeypatch):
    from modules.cloud import preflight
    from modules.cloud.errors import CloudError

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    config.secrets = ssh_server.secrets()
    free = shutil.disk_usage(tmp_path).free
    # what the run writes would not fit: the reserve is set just above what that disk has free
    monkeypatch.setattr(preflight, "RESERVE_BYTES", free + 1024**3)
    with pytest.raises(CloudError, match=r"not enough disk space on the remote machine: [\d.]+ GB free in "
                                         rf"{tmp_path}, the run needs about") as caught:
        _start(config, trusted)
    assert "to upload" in str(caught.value) and "\n" not in str(caught.value)
    assert _nothing_arrived(remote)

    monkeypatch.setattr(preflight, "RESERVE_BYTES", 0)  # the same machine with room enough passes
    python, fresh = _checked_python(ssh_server, trusted, config)
    assert (python, fresh) == (sys.executable, False)


def _checked_python(server, data_dir, config):
    from modules.cloud import preflight
    from modules.cloud.connection import Connection, known_hosts_path

    connection = Connection(server.host, server.port, server.user, key_file=server.key_file,
                            known_hosts=known_hosts_path(data_dir))
    try:
        preflight.check(connection, config, upload_bytes=1024)
        assert preflight.python_version(connection, sys.executable)[:2] == sys.version_info[:2]
        return preflight.python_of_run(connection, config)
    finally:
        connection.close()


def test_a_machine_without_the_trainer_checks_its_python3_and_counts_the_set_up(make_config, ssh_server, trusted,
                                                                                 tmp_path, monkeypatch):
    from modules.cloud import preflight
    from modules.cloud.connection import Connection, known_hosts_path
    from modules.cloud.errors import CloudError

    monkeypatch.delenv("OT_CLOUD_PYTHON", raising=False)
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), tmp_path / "remote-machine")
    connection = Connection(ssh_server.host, ssh_server.port, ssh_server.user, key_file=ssh_server.key_file,
                            known_hosts=known_hosts_path(trusted))
    try:
        assert preflight.python_of_run(connection, config) == ("python3", True)  # no environment there yet
        free = shutil.disk_usage(tmp_path).free
        monkeypatch.setattr(preflight, "RESERVE_BYTES", free - preflight.SETUP_BYTES // 2)
        with pytest.raises(CloudError, match="to set up the trainer"):  # fits without the set-up, not with it
            preflight.check(connection, config, upload_bytes=0)
    finally:
        connection.close()
