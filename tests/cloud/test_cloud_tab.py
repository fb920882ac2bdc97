"""The Cloud tab: the host key is shown and trusted only on confirmation; Reattach follows a remote run."""
from __future__ import annotations

import pytest
from nicegui.testing import User

from modules.cloud.connection import fetch_host_key, fingerprint, known_hosts_path


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("OT_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def _point_at(server) -> None:
    from ot_nicegui.state.config_session import get_session

    cloud = get_session().config.secrets.cloud
    cloud.host, cloud.port, cloud.user, cloud.key_file = server.host, str(server.port), server.user, server.key_file


async def test_host_key_is_shown_and_trusted_on_confirmation(user: User, ssh_server, data_dir) -> None:
    await user.open("/?tab=cloud")
    _point_at(ssh_server)
    expected = fingerprint(fetch_host_key(ssh_server.host, ssh_server.port))
    user.find(marker="cloud-check-host-key").click()
    await user.should_see(f"{expected} — not trusted yet")
    assert not known_hosts_path(data_dir).exists()
    user.find(marker="cloud-trust-host-key").click()
    await user.should_see(f"{expected} — trusted")
    assert expected.split(":", 1)[1][:20] and known_hosts_path(data_dir).is_file()
    user.find(marker="cloud-check-host-key").click()  # checked again: known now
    await user.should_see(f"{expected} — trusted")
    await user.should_not_see("not trusted yet")


async def test_unreachable_host_is_said_in_one_line(user: User, ssh_server) -> None:
    import socket

    await user.open("/?tab=cloud")
    _point_at(ssh_server)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    from ot_nicegui.state.config_session import get_session

    get_session().config.secrets.cloud.port = str(closed)
    user.find(marker="cloud-check-host-key").click()
    await user.should_see(f"cannot reach 127.0.0.1:{closed}")


async def test_reattach_needs_a_cloud_run_and_a_run_to_follow(user: User, ssh_server, data_dir, tmp_path,
                                                              image_dir, caplog) -> None:
    import json

    (data_dir / "training_concepts").mkdir()  # the config the run was started with: it has its concept
    (data_dir / "training_concepts" / "concepts.json").write_text(json.dumps([{"path": image_dir}]))
    from modules.cloud.connection import trust_host_key
    from modules.config.enums import CloudType
    from ot_nicegui.state.config_session import get_session

    await user.open("/?tab=cloud")
    user.find(marker="cloud-reattach").click()
    await user.should_see("turn Enabled on and choose LINUX")
    config = get_session().config
    _point_at(ssh_server)
    trust_host_key(ssh_server.host, ssh_server.port, fetch_host_key(ssh_server.host, ssh_server.port),
                   known_hosts_path(data_dir))
    config.cloud.enabled, config.cloud.type = True, CloudType.LINUX
    config.cloud.remote_dir, config.cloud.run_id = str(tmp_path / "remote-machine"), "gone"
    user.find(marker="cloud-reattach").click()
    await user.should_see("no run 'gone' on the remote machine to reattach to", retries=100)
    caplog.clear()  # the failure was logged as an error on purpose
