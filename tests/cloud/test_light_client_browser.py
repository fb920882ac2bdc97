"""The app of a light client (no torch, diffusers, transformers ...) in Chromium: every tab opens in
both themes without a console error, and Start of a local run names what to do."""
from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser.test_browser_tabs import TABS

pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def light_app(light_env, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    log = tmp_path / "app.log"
    with log.open("w") as out:
        app = subprocess.Popen([sys.executable, "-m", "ot_nicegui", "--port", str(port), "--data-dir", str(data)],
                               cwd=data, env=light_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/ot-static/app.css", timeout=5)
                break
            if app.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-3000:])
            time.sleep(0.2)
        yield url, log
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def test_every_tab_of_a_light_client_and_its_start_message(light_app, pw_browser):
    url, log = light_app
    errors: list[str] = []
    page = pw_browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_role("tab", name="General").wait_for()
    page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    for theme in ("light", "dark"):
        if (theme == "dark") != page.evaluate("document.body.classList.contains('body--dark')"):
            page.locator('[aria-label^="Switch to"]').click()
            page.wait_for_function(f"document.body.classList.contains('body--dark') === {str(theme == 'dark').lower()}")
        for label in [*TABS.values(), "Run", "TensorBoard", "Performance"]:
            page.get_by_role("tab", name=label, exact=True).click()
            page.get_by_role("tab", name=label, exact=True).and_(page.locator(".q-tab--active")).wait_for()
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("this install has no local training; enable cloud training or install the training extras") \
        .first.wait_for()
    page.close()
    assert not errors, errors
    assert "Traceback" not in log.read_text() and "ModuleNotFoundError" not in log.read_text()
