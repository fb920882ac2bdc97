"""The remote config's paths, the changed-files-only transfers and the command file."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from modules.cloud.paths import plan_remote_run, remote_path


def test_paths_map_below_remote_and_cloud_prefix_is_verbatim(make_config, tmp_path, image_dir):
    from modules.config.concept_config import ConceptConfig

    config = make_config("STABLE_DIFFUSION_15", "LORA")
    disabled = ConceptConfig.default_values()
    disabled.path, disabled.enabled = str(tmp_path / "not-this-one"), False
    there = ConceptConfig.default_values()
    there.path = "cloud:/data/already-there"
    config.concepts += [disabled, there]
    config.vae.model_name = "some-org/some-vae"  # a hub name stays
    before = config.to_dict()

    plan = plan_remote_run(config, "/ws", cuda=False)
    remote = plan.config
    assert [c.path for c in remote.concepts] == [remote_path("/ws", image_dir), "/data/already-there"]
    assert remote_path("/ws", image_dir) == "/ws/remote/" + os.path.abspath(image_dir).lstrip("/")
    assert plan.uploads == {image_dir: remote_path("/ws", image_dir),
                            config.base_model_name: remote_path("/ws", config.base_model_name)}
    assert remote.base_model_name == remote_path("/ws", config.base_model_name)
    assert remote.vae.model_name == "some-org/some-vae"
    assert remote.output_model_destination == remote_path("/ws", config.output_model_destination)
    assert "output_model_destination" in plan.outputs and config.output_model_destination not in plan.uploads
    assert not remote.cloud.enabled and remote.train_device == "cpu"
    assert plan_remote_run(config, "/ws", cuda=True).config.train_device == "cuda"
    config.train_device = "cuda:1"
    assert plan_remote_run(config, "/ws", cuda=True).config.train_device == "cuda:1"
    config.train_device = "cpu"
    assert config.to_dict() == before  # the local config is not touched
    sample = plan.local_of(remote_path("/ws", config.workspace_dir) + "/samples/0 - a/x.png")
    assert sample == os.path.join(config.workspace_dir, "samples/0 - a/x.png")


def test_second_upload_sends_only_the_changed_files(ssh_server, trusted, tmp_path):
    from modules.cloud.connection import Connection, known_hosts_path
    from modules.cloud.sync import download, upload

    local = tmp_path / "data"
    (local / "sub").mkdir(parents=True)
    for i in range(20):
        (local / ("sub" if i % 2 else "") / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    (local / ".hidden").mkdir()
    (local / ".hidden" / "skip.bin").write_bytes(b"x")
    remote = tmp_path / "remote" / "data"
    connection = Connection(ssh_server.host, ssh_server.port, ssh_server.user, key_file=ssh_server.key_file,
                            known_hosts=known_hosts_path(trusted))
    try:
        first = upload(connection.sftp, str(local), str(remote))
        assert first.files_sent == 20 and first.bytes_sent == sum(1000 + i for i in range(20))
        assert not (remote / ".hidden").exists()
        changed = local / "sub" / "f3.bin"
        changed.write_bytes(os.urandom(5000))
        second = upload(connection.sftp, str(local), str(remote))
        assert (second.files_sent, second.files_skipped, second.bytes_sent) == (1, 19, 5000)
        assert (remote / "sub" / "f3.bin").read_bytes() == changed.read_bytes()
        back = tmp_path / "back"
        assert download(connection.sftp, str(remote), str(back)) == 20
        assert download(connection.sftp, str(remote), str(back)) == 0  # nothing changed
        assert (back / "sub" / "f3.bin").read_bytes() == changed.read_bytes()
        assert download(connection.sftp, str(tmp_path / "remote" / "missing"), str(back / "m")) == 0
    finally:
        connection.close()


def test_command_file_lines_reach_the_trainer_commands(tmp_path):
    from modules.cloud.run_files import watch_commands
    from modules.train import TrainCommands

    commands, stopped = TrainCommands(), threading.Event()
    path = tmp_path / "commands.jsonl"
    watch_commands(path, commands, stopped)
    with open(path, "a") as handle:
        handle.write("not json\n" + json.dumps({"command": "backup"}) + "\n" + '{"command": "st')
    deadline = time.monotonic() + 10
    while not commands._backup and time.monotonic() < deadline:
        time.sleep(0.05)
    assert commands.get_and_reset_backup_command() and not commands.get_stop_command()  # half a line waits
    with open(path, "a") as handle:
        handle.write('op"}\n')
    while not commands.get_stop_command() and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped.set()
    assert commands.get_stop_command()


def test_cloud_paths_are_left_to_the_remote_machine_by_the_start_check(make_config):
    from modules.config.validation import errors
    from modules.engine import check

    from .helpers import cloud_config

    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), Path("/ws"))
    config.base_model_name = "cloud:/models/there-only"
    config.concepts[0].path = "cloud:/data/there-only"
    assert not {p.path for p in errors(check(config))} & {"base_model_name", "concepts[0].path"}
    config.cloud.enabled = False  # a local run cannot read them
    assert {p.path for p in errors(check(config))} >= {"base_model_name", "concepts[0].path"}
