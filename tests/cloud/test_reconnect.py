"""A connection lost in the middle of a remote run is made again with back-off, the UI is told, and
following the run goes on where it stopped: every step once, the model back at the end."""
from __future__ import annotations

import json
import os
import sys

from .helpers import cloud_config


def test_a_dropped_connection_reconnects_and_the_run_is_followed_to_its_end(make_config, ssh_server, trusted,
                                                                             tmp_path, monkeypatch):
    from modules.cloud.trainer import CloudTrainer
    from modules.train import TrainCallbacks

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    from modules.config.enums import CloudFileSync

    # the upload over this SFTP session (the other tests' runs send with scp, the default)
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA", epochs=4), tmp_path / "remote-machine",
                          file_sync=CloudFileSync.FABRIC_SFTP)
    config.secrets = ssh_server.secrets()
    steps, statuses, dropped = [], [], []

    def drop_once(progress, max_step, max_epoch):
        steps.append((progress.global_step, max_step * max_epoch))
        if progress.global_step >= 2 and not dropped:
            dropped.append(trainer.connection)
            trainer.connection.client.get_transport().close()  # the network goes away under the reader

    trainer = CloudTrainer(config, TrainCallbacks(on_update_train_progress=drop_once,
                                                  on_update_status=statuses.append), data_dir=str(trusted))
    trainer.start()
    try:
        trainer.train()
    finally:
        trainer.end()
    assert dropped and trainer.connection is not dropped[0]
    lost = statuses.index("connection lost, reconnecting (attempt 1)")
    assert statuses[lost + 1] == "reconnected"
    assert trainer.exit_code == 0
    events = tmp_path / "remote-machine" / "runs" / "test-run" / "events.jsonl"
    written = [event["global_step"] for event in map(json.loads, events.read_text().splitlines())
               if event["type"] == "progress"]
    assert [step for step, _ in steps] == written  # each event the remote run wrote, once, in order
    assert written[-1] == steps[-1][1]  # the last step arrived after the reconnect
    assert os.path.getsize(config.output_model_destination) > 0  # downloaded over the new connection
