"""Cloud runs of type RUNPOD against a local stand-in for RunPod's API whose pods' SSH port is the test
SSH server: a pod is created, waited for, trained on and deleted; a failing run stops an existing pod;
the API's refusals end in one line; the API key appears in no request line, log or file."""
from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys

import pytest

from .helpers import TOKEN, cloud_config, files_containing, remote_env
from .runpod_api import NO_CAPACITY, FakePod, FakeRunPod, RunPodServer

API_KEY = "rpa_" + secrets.token_hex(16)  # made at run time: no file of the project holds it
GPU = "NVIDIA GeForce RTX 4090"


@pytest.fixture
def runpod(ssh_server, monkeypatch):
    api = FakeRunPod(API_KEY, ssh_server.host, ssh_server.port)
    with RunPodServer(api) as server:
        monkeypatch.setenv("OT_RUNPOD_API_URL", server.url)
        yield api


def runpod_config(make_config, ssh_server, remote, **changes):
    from modules.config.enums import CloudType

    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote, type=CloudType.RUNPOD, **changes)
    # the SSH address comes from the API: none is set here
    config.secrets = ssh_server.secrets(host="", port="0", api_key=API_KEY)
    config.secrets.huggingface_token = TOKEN
    return config


def run_cli(config, folder, **env):
    config_path, secrets_path = folder / "config.json", folder / "secrets.json"
    config_path.write_text(json.dumps(config.to_pack_dict(secrets=False)))
    secrets_path.write_text(json.dumps(config.secrets.to_dict()))
    return subprocess.run([sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path),
                           "--secrets-path", str(secrets_path)], cwd=folder, env=dict(remote_env(), **env),
                          capture_output=True, text=True, timeout=600)


def key_leaks(api: FakeRunPod, *folders) -> list[str]:
    """Every place besides the Authorization header (and the user's own secrets.json) where the API key shows."""
    found = [path for path in api.request_paths if API_KEY in path]
    for folder in folders:
        found += [f for f in files_containing(folder, API_KEY.encode()) if os.path.basename(f) != "secrets.json"]
    return found


def test_a_created_pod_trains_the_lora_and_is_deleted_after(make_config, ssh_server, runpod, tmp_path):
    from modules.cloud.connection import fetch_host_key, is_trusted, known_hosts_path
    from modules.config.enums import CloudAction

    remote, data = tmp_path / "remote-machine", tmp_path / "data"
    data.mkdir()  # no known-hosts file: the new pod's key is trusted when it first answers
    config = runpod_config(make_config, ssh_server, remote, create=True, name="ot-test", gpu_type=GPU,
                           sub_type="COMMUNITY", volume_size=20, min_download=200,
                           on_finish=CloudAction.DELETE, on_error=CloudAction.STOP, detach_trainer=True,
                           on_detached_finish=CloudAction.STOP, on_detached_error=CloudAction.STOP)

    result = run_cli(config, data, OT_RUNPOD_API_URL=os.environ["OT_RUNPOD_API_URL"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 1/2" in result.stdout and "created pod pod001" in result.stdout
    assert f"pod pod001: SSH at {ssh_server.host}:{ssh_server.port}" in result.stdout

    # create, look until the SSH port is public, then (after the run and its downloads) delete
    operations = runpod.operations()
    assert operations[0] == "podFindAndDeployOnDemand" and operations[-1] == "podTerminate"
    assert set(operations[1:-1]) == {"pod"} and len(operations) >= 4  # the port showed on a later look
    created = runpod.inputs("podFindAndDeployOnDemand")[0]
    assert created["name"] == "ot-test" and created["gpuTypeId"] == GPU and created["gpuCount"] == 1
    assert created["cloudType"] == "COMMUNITY" and created["volumeInGb"] == 20 and created["minDownload"] == 200
    assert created["ports"] == "22/tcp" and created["supportPublicIp"] is True
    public_key = open(ssh_server.key_file + ".pub").read().strip()
    assert created["env"] == [{"key": "PUBLIC_KEY", "value": public_key}]  # the key file logs in to the pod
    assert runpod.inputs("podTerminate") == [{"podId": "pod001"}] and runpod.pods["pod001"].status == "TERMINATED"
    # this side followed the run to its end: the pod's own watcher left the action to it
    watcher_log = remote / "runs" / "test-run" / "pod_end.log"
    wait_for(lambda: watcher_log.is_file() and "followed" in watcher_log.read_text(), "the pod's watcher")
    assert watcher_log.read_text() == "run followed to its end (exit 0): the local side acts\n"
    assert runpod.inputs("podStop") == [] and runpod.pod_calls == []

    assert os.path.isfile(config.output_model_destination)  # the LoRA came back before the pod went
    mapped = remote / "remote" / config.output_model_destination.lstrip("/")
    assert mapped.read_bytes() == open(config.output_model_destination, "rb").read()
    key = fetch_host_key(ssh_server.host, ssh_server.port)
    assert is_trusted(ssh_server.host, ssh_server.port, key, known_hosts_path(data))

    assert set(runpod.auth_headers) == {f"Bearer {API_KEY}"}
    assert API_KEY not in result.stdout + result.stderr
    assert key_leaks(runpod, remote, data, data.parent / "workspace") == []
    assert files_containing(remote, TOKEN.encode()) == []


def test_a_failing_run_on_an_existing_stopped_pod_resumes_it_and_stops_it(make_config, ssh_server, runpod,
                                                                           trusted, tmp_path):
    from modules.cloud.connection import fetch_host_key, is_trusted, known_hosts_path
    from modules.config.enums import CloudAction

    runpod.pods["existing1"] = FakePod("existing1", "mine", status="EXITED", gpu_count=2)
    known_hosts_path(trusted).unlink()
    trust_another_key(ssh_server, trusted, tmp_path)  # the key the pod had before it was stopped
    remote = tmp_path / "remote-machine"
    config = runpod_config(make_config, ssh_server, remote, create=False, gpu_type=GPU,
                           on_finish=CloudAction.DELETE, on_error=CloudAction.STOP)
    config.secrets.cloud.id = "existing1"

    crashing = tmp_path / "crashing-python"  # a python whose trainer ends at once, with status 1
    crashing.write_text(f'#!/bin/sh\ncase "$*" in *modules.cli.train*) echo "the trainer crashed"; exit 1;; esac\n'
                        f'exec {sys.executable} "$@"\n')
    crashing.chmod(0o755)
    result = run_cli(config, trusted, OT_CLOUD_PYTHON=str(crashing))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: the remote run failed (exit 1): the trainer crashed"], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    operations = runpod.operations()
    assert "podFindAndDeployOnDemand" not in operations and "podTerminate" not in operations
    assert operations[:2] == ["pod", "podResume"] and operations[-1] == "podStop"
    assert runpod.inputs("podResume") == [{"podId": "existing1", "gpuCount": 2}]  # as many GPUs as it had
    assert runpod.inputs("podStop") == [{"podId": "existing1"}] and runpod.pods["existing1"].status == "EXITED"
    assert "stopping pod existing1" in result.stdout
    # a started pod has new host keys: its new one was trusted in place of the old
    assert is_trusted(ssh_server.host, ssh_server.port, fetch_host_key(ssh_server.host, ssh_server.port),
                      known_hosts_path(trusted))
    assert API_KEY not in result.stdout + result.stderr and key_leaks(runpod, remote, trusted) == []


def trust_another_key(server, data_dir, folder) -> None:
    """The known-hosts file of `data_dir` holds another ed25519 key for `server`'s address."""
    import paramiko

    from modules.cloud.connection import known_hosts_path, trust_host_key

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "old_host_key")], check=True)
    old = paramiko.Ed25519Key.from_private_key_file(str(folder / "old_host_key"))
    trust_host_key(server.host, server.port, old, known_hosts_path(data_dir))


def test_a_detached_run_no_one_follows_has_the_pod_delete_itself(make_config, ssh_server, runpod, tmp_path,
                                                                 monkeypatch):
    import modules.cloud.pod_end as pod_end
    from modules.cloud.pod_trainer import RunPodTrainer
    from modules.config.enums import CloudAction
    from modules.train import TrainCallbacks

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    monkeypatch.setattr(pod_end, "FOLLOW_GRACE_SECONDS", 2)
    pod_key = "rpk_" + secrets.token_hex(8)  # what RunPod gives the pod: only this pod's calls
    runpod.pod_key = pod_key
    environment = tmp_path / "rp_environment"  # the pod's variables, as RunPod's images keep them
    environment.write_text(f'export RUNPOD_API_KEY="{pod_key}"\n')
    monkeypatch.setattr(pod_end, "POD_ENVIRONMENT", str(environment))
    remote, data = tmp_path / "remote-machine", tmp_path / "data"
    data.mkdir()
    config = runpod_config(make_config, ssh_server, remote, create=True, gpu_type=GPU, detach_trainer=True,
                           on_finish=CloudAction.STOP, on_error=CloudAction.STOP,
                           on_detached_finish=CloudAction.DELETE, on_detached_error=CloudAction.STOP)

    trainer = RunPodTrainer(config, TrainCallbacks(), data_dir=str(data))
    trainer.start()
    trainer.end()  # this side leaves without following the run (the app closed): the run goes on
    assert [name for name in runpod.operations() if name != "pod"] == ["podFindAndDeployOnDemand"]  # left alone here

    wait_for(lambda: runpod.pod_calls, "the pod's own call", timeout=400)
    assert runpod.pod_calls == [("podTerminate", {"input": {"podId": "pod001"}})]  # on_detached_finish, by the pod
    assert runpod.pods["pod001"].status == "TERMINATED"
    log_text = (remote / "runs" / "test-run" / "pod_end.log").read_text()
    assert log_text.splitlines() == ["run ended (exit 0) with no one following: pod action DELETE",
                                     "pod pod001: delete asked"]
    assert key_leaks(runpod, remote, data) == [] and files_containing(remote, pod_key.encode()) == []


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not come within {timeout:g} s"
        time.sleep(0.2)


# ---- the errors: one line each, and a pod that exists gets the error action ----------------------------------
def _start(config, caplog, data_dir):
    from modules.cloud.errors import CloudError
    from modules.cloud.pod_trainer import RunPodTrainer

    statuses: list[str] = []
    from modules.train import TrainCallbacks

    trainer = RunPodTrainer(config, TrainCallbacks(on_update_status=statuses.append), data_dir=str(data_dir))
    with caplog.at_level(logging.DEBUG), pytest.raises(CloudError) as failure:
        trainer.start()
    trainer.end()
    message = str(failure.value)
    assert "\n" not in message and API_KEY not in message
    assert not [r for r in caplog.records if API_KEY in r.getMessage()]
    return message, statuses


def test_a_wrong_api_key_is_said_and_nothing_is_created(make_config, ssh_server, runpod, tmp_path, caplog):
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU)
    runpod.api_key = "rpa_another"  # the account's key is not the one in secrets.json
    message, _ = _start(config, caplog, tmp_path)
    assert message == (f"creating a pod with {GPU} (community or secure cloud): RunPod refused the API key (HTTP 401); "
                       "check the API key on the Cloud tab")
    assert runpod.calls == [] and runpod.pods == {}


def test_no_machine_with_that_gpu_is_said(make_config, ssh_server, runpod, tmp_path, caplog):
    from modules.config.enums import CloudAction

    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU,
                           sub_type="SECURE", on_error=CloudAction.DELETE)
    runpod.capacity = False
    message, _ = _start(config, caplog, tmp_path)
    assert message == f"creating a pod with {GPU} (secure cloud): {NO_CAPACITY}"
    assert runpod.calls == []  # no pod, so nothing to delete


def test_a_pod_that_never_opens_ssh_is_named_and_deleted(make_config, ssh_server, runpod, tmp_path, caplog,
                                                          monkeypatch):
    import modules.cloud.pod_trainer as pod_trainer
    from modules.config.enums import CloudAction

    monkeypatch.setattr(pod_trainer, "SSH_WAIT_SECONDS", 0.5)
    monkeypatch.setattr(pod_trainer, "POLL_SECONDS", (0.05, 0.1))
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU,
                           on_error=CloudAction.DELETE)
    runpod.never_ssh = True
    message, statuses = _start(config, caplog, tmp_path)
    assert message == ("pod pod001 opened no public SSH port within 0.5 s (running): check it in the RunPod "
                       "console")
    assert runpod.operations()[-1] == "podTerminate" and runpod.inputs("podTerminate") == [{"podId": "pod001"}]
    assert statuses[-1] == "deleting pod pod001"


def test_an_existing_pod_without_a_public_ssh_port_is_said_at_once(make_config, ssh_server, runpod, tmp_path,
                                                                     caplog, monkeypatch):
    import modules.cloud.pod_trainer as pod_trainer
    from modules.config.enums import CloudAction

    monkeypatch.setattr(pod_trainer, "POLL_SECONDS", (0.05, 0.1))  # the 15 minutes are never waited for
    runpod.pods["private7"] = FakePod("private7", "mine", public_ssh=False)
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", on_error=CloudAction.STOP)
    config.secrets.cloud.id = "private7"
    message, _ = _start(config, caplog, tmp_path)
    assert message == ("pod private7 has no public SSH port: expose TCP port 22 on a public IP (RunPod's pod "
                       "settings), or create the pod here")
    assert runpod.inputs("podStop") == [{"podId": "private7"}]  # on_error, as after any failure with a pod


def test_a_running_pod_whose_known_key_changed_is_refused(make_config, ssh_server, runpod, tmp_path, caplog):
    from modules.config.enums import CloudAction

    runpod.pods["running3"] = FakePod("running3", "mine")
    data = tmp_path / "data"
    data.mkdir()
    trust_another_key(ssh_server, data, tmp_path)
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", on_error=CloudAction.STOP)
    config.secrets.cloud.id = "running3"
    message, _ = _start(config, caplog, data)
    assert message.startswith(f"the host key of {ssh_server.host}:{ssh_server.port} changed (ssh-ed25519 SHA256:")
    assert runpod.inputs("podStop") == [{"podId": "running3"}]


def test_stop_while_waiting_for_the_pod_ends_the_wait(make_config, ssh_server, runpod, tmp_path, caplog,
                                                      monkeypatch):
    import modules.cloud.pod_trainer as pod_trainer
    from modules.cloud.errors import CloudError
    from modules.cloud.pod_trainer import RunPodTrainer
    from modules.config.enums import CloudAction
    from modules.train import TrainCommands

    monkeypatch.setattr(pod_trainer, "POLL_SECONDS", (0.05, 0.1))
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU,
                           on_error=CloudAction.DELETE)
    runpod.never_ssh = True
    commands = TrainCommands()
    commands.stop()  # Stop pressed while the pod starts
    trainer = RunPodTrainer(config, commands=commands, data_dir=str(tmp_path))
    with pytest.raises(CloudError, match="^stopped while waiting for pod pod001 to open its SSH port$"):
        trainer.start()
    trainer.end()
    assert runpod.inputs("podTerminate") == [{"podId": "pod001"}]


def test_an_error_with_action_none_says_the_pod_still_runs(make_config, ssh_server, runpod, tmp_path, caplog,
                                                            monkeypatch):
    import modules.cloud.pod_trainer as pod_trainer

    monkeypatch.setattr(pod_trainer, "SSH_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(pod_trainer, "POLL_SECONDS", (0.05, 0.1))
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU)
    runpod.never_ssh = True
    _, statuses = _start(config, caplog, tmp_path)
    assert statuses[-1] == "pod pod001 is still running (action on error: NONE)"
    assert "podStop" not in runpod.operations() and "podTerminate" not in runpod.operations()


@pytest.mark.parametrize(("changes", "expected"), [
    ({"create": False}, "no RunPod pod: enter the pod's ID on the Cloud tab or turn on Create"),
    ({"create": True, "gpu_type": ""}, "no GPU type for the new pod: choose one on the Cloud tab (GPU)"),
    ({"create": True, "gpu_type": GPU, "sub_type": "CHEAP"},
     "unknown machine sub-type 'CHEAP': leave it empty, COMMUNITY or SECURE"),
])
def test_settings_that_name_no_pod_are_refused_before_any_request(make_config, ssh_server, runpod, tmp_path,
                                                                   caplog, changes, expected):
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", **changes)
    message, _ = _start(config, caplog, tmp_path)
    assert message == expected and runpod.calls == []


def test_an_unknown_pod_id_and_a_missing_key_are_said(make_config, ssh_server, runpod, tmp_path, caplog):
    config = runpod_config(make_config, ssh_server, tmp_path / "remote")
    config.secrets.cloud.id = "gone42"
    assert _start(config, caplog, tmp_path)[0] == "no pod 'gone42' in this RunPod account"
    config.secrets.cloud.api_key = " "
    assert _start(config, caplog, tmp_path)[0] == "no RunPod API key: set it on the Cloud tab (stored in secrets.json)"


def test_reattach_finds_the_pod_by_name_and_leaves_it_alone_when_there_is_no_run(make_config, ssh_server, runpod,
                                                                                  tmp_path, caplog):
    from modules.cloud.errors import CloudError
    from modules.cloud.pod_trainer import RunPodTrainer
    from modules.config.enums import CloudAction

    runpod.pods["other1"] = FakePod("other1", "someone else's")
    runpod.pods["mine22"] = FakePod("mine22", "ot-run")
    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, name="ot-run",
                           on_error=CloudAction.DELETE)
    data = tmp_path / "data"  # no key known for the pod's address: the one it shows is taken
    data.mkdir()
    trainer = RunPodTrainer(config, reattach=True, data_dir=str(data))
    with pytest.raises(CloudError, match="no run 'test-run' on the remote machine to reattach to"):
        trainer.start()
    trainer.end()
    assert runpod.operations()[0] == "myself" and set(runpod.operations()[1:]) == {"pod"}  # no create, no action
    assert runpod.inputs("pod")[0] == {"podId": "mine22"}

    runpod.pods["mine23"] = FakePod("mine23", "ot-run")
    with pytest.raises(CloudError, match="more than one RunPod pod named 'ot-run' to reattach to"):
        RunPodTrainer(config, reattach=True, data_dir=str(data)).start()


def test_the_public_key_comes_from_the_pub_file_or_the_key_itself(ssh_server, tmp_path):
    import shutil

    from modules.cloud.pod_trainer import public_key_of

    published = open(ssh_server.key_file + ".pub").read().split()
    assert public_key_of(ssh_server.key_file).split() == published
    alone = tmp_path / "key-without-pub"
    shutil.copy(ssh_server.key_file, alone)
    assert public_key_of(str(alone)).split() == published[:2]  # derived: the same key, without the comment
    assert public_key_of(str(tmp_path / "missing")) == "" and public_key_of("") == ""


def test_a_runpod_config_that_cannot_ask_for_a_pod_is_refused_before_the_start(make_config, ssh_server, tmp_path):
    from modules.config.validation import errors
    from modules.engine import check

    config = runpod_config(make_config, ssh_server, tmp_path / "remote", create=True, gpu_type=GPU)
    assert not [p for p in errors(check(config)) if "cloud" in p.path]
    config.secrets.cloud.api_key, config.cloud.gpu_type, config.cloud.sub_type = "", "", "cheap"
    assert {(p.path, p.message) for p in errors(check(config)) if "cloud" in p.path} == {
        ("secrets.cloud.api_key", "a RunPod run needs the API key of your RunPod account"),
        ("cloud.gpu_type", "a new pod needs a GPU type"),
        ("cloud.sub_type", "leave it empty, or COMMUNITY or SECURE")}
    config.cloud.create = False
    assert "turn on Create for a new pod, or enter the pod's ID" in [p.message for p in check(config)]
    config.secrets.cloud.id = "mine22"  # an existing pod: neither Create nor a GPU type needed
    assert {p.path for p in errors(check(config)) if "cloud" in p.path} == {"secrets.cloud.api_key", "cloud.sub_type"}


def test_the_gpu_types_are_listed_smallest_first(runpod):
    from modules.cloud.runpod import RunPodClient

    with RunPodClient(API_KEY) as client:
        assert [(t.id, t.memory_gb) for t in client.gpu_types()] == [
            ("NVIDIA RTX A4000", 16), (GPU, 24), ("NVIDIA A40", 48)]
    assert runpod.operations() == ["gpuTypes"] and runpod.request_paths == ["/graphql"]


def test_an_unreachable_api_is_one_line_without_the_key(monkeypatch):
    import socket

    from modules.cloud.runpod import RunPodClient, RunPodError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with RunPodClient(API_KEY, url=f"http://127.0.0.1:{closed}/graphql") as client, \
            pytest.raises(RunPodError, match=f"listing the GPU types: cannot reach the RunPod API at "
                                             f"http://127.0.0.1:{closed}/graphql") as failure:
        client.gpu_types()
    assert API_KEY not in str(failure.value) and "\n" not in str(failure.value)


def test_the_pod_action_follows_the_outcome():
    from modules.cloud.pod_trainer import pod_action
    from modules.config.cloud_config import CloudConfig
    from modules.config.enums import CloudAction

    cloud = CloudConfig.default_values()
    cloud.on_finish, cloud.on_error = CloudAction.DELETE, CloudAction.STOP
    assert pod_action(cloud, True) == CloudAction.DELETE
    assert pod_action(cloud, False) == CloudAction.STOP
    assert pod_action(cloud, None) == CloudAction.NONE  # the run goes on without us
