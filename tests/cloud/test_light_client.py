"""A light client: the app and the headless CLI installed without the training extras (no torch,
diffusers, transformers ...: only the base dependencies and the cloud extra) serve the UI and train
through the cloud; a run that would train here is refused with one message saying what to do. What
such an install lacks is hidden from the child processes by an import hook (a `sitecustomize` on
their PYTHONPATH); the remote side (reached over SSH) has everything."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from .helpers import cloud_config, write_run_files


def test_the_cli_of_a_light_client_trains_through_the_cloud_and_refuses_local_training(
        make_config, ssh_server, trusted, tmp_path, light_env):
    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    config_path, secrets_path = write_run_files(config, ssh_server, trusted)
    command = [sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path), "--secrets-path",
               str(secrets_path)]
    result = subprocess.run(command, cwd=trusted, env=light_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 1/2" in result.stdout  # the remote progress reached this side
    assert os.path.getsize(config.output_model_destination) > 0  # the LoRA came back

    config.cloud.enabled = False
    config_path.write_text(json.dumps(config.to_pack_dict(secrets=False)))
    local = subprocess.run(command, cwd=trusted, env=light_env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 2 and "Traceback" not in local.stderr
    assert "this install has no local training; enable cloud training or install the training extras" in local.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def _until(fetch, done, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: last {value!r}")


def test_the_app_of_a_light_client_serves_and_runs_a_cloud_job(make_config, ssh_server, trusted, tmp_path, light_env):
    port = _free_port()
    env = dict(light_env, OT_DATA_DIR=str(trusted))  # the data folder with the trusted host key
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "-m", "ot_nicegui", "--port", str(port), "--data-dir", str(trusted)],
                           cwd=trusted, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def page():
            try:
                return _request(base + "/")
            except OSError:
                assert app.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
                return None

        status, html = _until(page, lambda answer: answer is not None, 120, "the app's page")
        assert status == 200 and b"<html" in html.lower()

        config = make_config("STABLE_DIFFUSION_15", "LORA")
        jobs = base + "/api/jobs"
        _, local = _request(jobs, {"config": config.to_pack_dict(secrets=False), "name": "here"})
        remote = tmp_path / "remote-machine"
        cloud = cloud_config(config, remote)
        cloud.secrets = ssh_server.secrets()
        cloud_job = {**cloud.to_pack_dict(secrets=False), "secrets": cloud.secrets.to_dict()}
        _, sent = _request(jobs, {"config": cloud_job, "name": "there"})
        local_id, cloud_id = json.loads(local)["id"], json.loads(sent)["id"]
        _request(base + "/api/queue/start", {})

        def job(job_id):
            return json.loads(_request(f"{jobs}/{job_id}")[1])

        refused = _until(lambda: job(local_id), lambda j: j["state"] not in ("queued", "running"), 120,
                         "the local job's end")
        assert refused["state"] == "failed"
        assert "this install has no local training; enable cloud training" in refused["message"]
        done = _until(lambda: job(cloud_id), lambda j: j["state"] not in ("queued", "running"), 500,
                      "the cloud job's end")
        assert done["state"] == "done", done
        assert os.path.getsize(cloud.output_model_destination) > 0
        assert (remote / "runs" / "test-run" / "events.jsonl").is_file()  # it trained over there
    finally:
        app.terminate()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
        log.close()
    assert "ModuleNotFoundError" not in (tmp_path / "app.log").read_text()
