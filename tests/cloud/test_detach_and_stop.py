"""A detached remote run outlives a dropped connection, is refused a second start, is followed again by
reattaching, and stops on a local Stop with the model, samples and workspace handled as asked."""
from __future__ import annotations

import os
import socket
import sys

import pytest

from .helpers import cloud_config, tree_digest


def test_detached_run_survives_a_dropped_connection_and_reattaches(make_config, ssh_server, trusted, tmp_path,
                                                                    image_dir, monkeypatch):
    from modules.cloud.errors import CloudError
    from modules.cloud.trainer import CloudTrainer
    from modules.config.enums import TimeUnit
    from modules.train import TrainCallbacks, TrainCommands

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    monkeypatch.chdir(trusted)  # the data folder with the known-hosts file
    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA", epochs=200, sample_after=1,
                                      sample_after_unit=TimeUnit.EPOCH), remote,
                          detach_trainer=True, delete_workspace=True, download_samples=True)
    config.secrets = ssh_server.secrets()
    inputs_before = tree_digest(image_dir)

    seen_first, statuses = [], []
    port = config.secrets.cloud.port

    def drop_on_first_progress(progress, max_step, max_epoch):
        if not seen_first:
            with socket.socket() as probe:  # the machine can no longer be reached: nobody listens there
                probe.bind(("127.0.0.1", 0))
                config.secrets.cloud.port = str(probe.getsockname()[1])
            first.connection.client.close()  # the network goes away
        seen_first.append(progress.global_step)

    monkeypatch.setattr("modules.cloud.trainer.RECONNECT_DELAYS", (0, 0.1))
    first = CloudTrainer(config, TrainCallbacks(on_update_train_progress=drop_on_first_progress,
                                                on_update_status=statuses.append))
    first.start()
    with pytest.raises(CloudError, match=r"lost the connection .*\(cannot reach .*\).*reattach"):
        first.train()
    first.end()
    config.secrets.cloud.port = port
    assert seen_first
    assert [s for s in statuses if "reconnect" in s] == ["connection lost, reconnecting (attempt 1)",
                                                          "connection lost, reconnecting (attempt 2)"]

    with pytest.raises(CloudError, match="still running"):
        CloudTrainer(config).start()  # the run goes on there: a second one would clash with it

    progress, samples, commands = [], [], TrainCommands()

    def stop_after_a_sample(output):
        samples.append(output)
        commands.stop()

    again = CloudTrainer(config, TrainCallbacks(on_update_train_progress=lambda p, s, e: progress.append(p.global_step),
                                                on_sample_default=stop_after_a_sample), commands, reattach=True)
    again.start()
    again.train()
    again.end()
    assert progress and progress[0] == seen_first[0]  # the whole run again, from its first event
    assert max(progress) < 200 * 2  # stopped long before the last of 200 epochs
    assert samples and samples[0].data is not None and samples[0].data.size == (32, 32)
    assert os.path.isfile(samples[0].path) and samples[0].path.startswith(config.workspace_dir)
    assert os.path.getsize(config.output_model_destination) > 0  # a stopped run still saves its model
    assert not (remote / "remote").exists() and not (remote / "runs" / "test-run").exists()  # delete_workspace
    assert tree_digest(image_dir) == inputs_before
