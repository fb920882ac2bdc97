"""The TensorBoard tab of the app in Chromium during a cloud run with the TensorBoard tunnel: it links
the forwarded remote TensorBoard, which lists the run's logs, in both themes, and drops the link
when the run ends."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .helpers import PROJECT, cloud_config

pytestmark = pytest.mark.timeout(900)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_tensorboard_tab_links_the_remote_runs_tensorboard(make_config, ssh_server, trusted, tmp_path,
                                                                 pw_browser):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(PYTHONPATH=str(PROJECT), OT_CLOUD_PYTHON=sys.executable, OT_DATA_DIR=str(trusted), HF_HUB_OFFLINE="1")
    log = tmp_path / "app.log"
    with log.open("w") as out:
        app = subprocess.Popen([sys.executable, "-m", "ot_nicegui", "--port", str(port), "--data-dir", str(trusted)],
                               cwd=trusted, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    try:
        def up():
            try:
                return _call(base + "/api/status")
            except OSError:
                assert app.poll() is None, log.read_text()[-3000:]
                return None

        _until(up, 120, "the app")
        config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA", epochs=300), tmp_path / "remote-machine",
                              tensorboard_tunnel=True)
        config.tensorboard, config.tensorboard_port = True, _free_port()  # the remote TensorBoard's port
        config.secrets = ssh_server.secrets()
        job = _call(base + "/api/jobs", {"config": {**config.to_pack_dict(secrets=False),
                                                    "secrets": config.secrets.to_dict()}, "name": "tunnel"})
        _call(base + "/api/queue/start", {})

        page = pw_browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/?tab=tensorboard")
        link = page.get_by_role("link", name="TensorBoard of the remote run at")
        link.wait_for(timeout=300_000)  # after the upload and the remote trainer's start
        href = link.get_attribute("href")
        assert href.startswith("http://127.0.0.1:") and str(config.tensorboard_port) not in href

        def runs():
            from playwright.sync_api import Error

            try:
                answer = page.request.get(href + "data/runs", fail_on_status_code=False)
            except Error:  # the connection is closed while nothing listens there yet
                return None
            return answer.ok and json.loads(answer.body())

        assert _until(runs, 240, "the remote TensorBoard's runs")  # its logs, through the tunnel
        page.locator('[aria-label^="Switch to"]').click()  # the other theme
        page.wait_for_timeout(300)
        assert link.is_visible()

        _call(f"{base}/api/jobs/{job['id']}/stop", {})
        _until(lambda: _call(f"{base}/api/jobs/{job['id']}")["state"] not in ("queued", "running"), 300,
               "the stopped run's end")
        link.wait_for(state="hidden", timeout=10_000)  # the forward closed with the run
        page.close()
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    assert not errors, errors
