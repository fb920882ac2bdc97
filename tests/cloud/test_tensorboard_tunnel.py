"""The TensorBoard tunnel: a local port forwarded through the SSH connection answers with what listens
on the remote machine's loopback; a cloud run with TensorBoard on starts TensorBoard there and shows
its logs here, until the run ends."""
from __future__ import annotations

import functools
import http.server
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from .helpers import cloud_config


def _get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def remote_http(tmp_path):
    """A tiny HTTP server on the remote machine's loopback (this machine's: the test server's remote is here)."""
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "hello.txt").write_text("from the remote side")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_forwarded_port_answers_from_the_remote_side(ssh_server, trusted, remote_http):
    from modules.cloud.connection import Connection, known_hosts_path
    from modules.cloud.tunnel import PortForward

    connection = Connection(ssh_server.host, ssh_server.port, ssh_server.user, key_file=ssh_server.key_file,
                            known_hosts=known_hosts_path(trusted))
    forward = PortForward(lambda: connection.client.get_transport(), remote_http)
    try:
        assert forward.local_port != remote_http
        for _ in range(3):  # one channel per connection
            assert _get(forward.url + "hello.txt") == b"from the remote side"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            _get(forward.url + "missing.txt")
    finally:
        forward.close()
        connection.close()
    assert _refused(forward.local_port)  # closed with its owner


def test_a_cloud_run_shows_its_remote_tensorboard_here_until_it_ends(make_config, ssh_server, trusted, tmp_path,
                                                                      monkeypatch):
    from modules.cloud.trainer import CloudTrainer
    from modules.train import TrainCallbacks, TrainCommands

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA", epochs=300), tmp_path / "remote-machine",
                          tensorboard_tunnel=True)
    config.tensorboard, config.tensorboard_always_on = True, True  # a UI-managed one here; the remote starts its own
    config.tensorboard_port = _free_port()  # the remote TensorBoard's port (6006 may be taken on a shared machine)
    config.secrets = ssh_server.secrets()
    statuses, commands, runs = [], TrainCommands(), []
    trainer = CloudTrainer(config, TrainCallbacks(on_update_status=statuses.append), commands, data_dir=str(trusted))

    def watch():
        """Asks the forwarded TensorBoard for the runs it shows, then stops the training."""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not runs and trainer.exit_code is None:
            try:
                runs.extend(json.loads(_get(trainer.tensorboard_url + "data/runs", timeout=5)))
            except (OSError, ValueError):
                time.sleep(1)
        commands.stop()

    trainer.start()
    watcher = threading.Thread(target=watch, daemon=True)
    try:
        assert trainer.tensorboard_url and f"TensorBoard of the remote run: {trainer.tensorboard_url}" in statuses
        watcher.start()
        trainer.train()
    finally:
        trainer.end()
        watcher.join(timeout=30)
    assert runs, "the remote TensorBoard never listed the run's logs"
    assert trainer.exit_code == 0
    assert _refused(trainer.tunnel.local_port)
