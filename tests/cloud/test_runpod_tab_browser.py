"""The Cloud tab's RunPod GPU list in Chromium, light and dark: fetched with the typed API key from a local
stand-in for RunPod's API, chosen into the GPU type field, no console errors."""
from __future__ import annotations

import os

import pytest

from tests.browser.test_browser_tabs import CHROMIUM, server  # noqa: F401 - the app server fixture

from .runpod_api import FakeRunPod, RunPodServer

API_KEY = "rpa_tab_" + os.urandom(8).hex()


@pytest.fixture(scope="module")
def runpod_for_server():
    """The API stand-in, in the environment of the app server the browser test starts next."""
    api = FakeRunPod(API_KEY, "127.0.0.1", 22)
    with RunPodServer(api) as stand_in:
        before = os.environ.get("OT_RUNPOD_API_URL")
        os.environ["OT_RUNPOD_API_URL"] = stand_in.url
        try:
            yield api
        finally:
            if before is None:
                os.environ.pop("OT_RUNPOD_API_URL", None)
            else:
                os.environ["OT_RUNPOD_API_URL"] = before


@pytest.fixture(scope="module")
def browser_server(runpod_for_server, server):  # noqa: F811 - the API stand-in first: the server inherits its URL
    return server


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed")
def test_gpu_types_in_the_browser(runpod_for_server, browser_server, pw_browser) -> None:
    from tests.browser.test_browser_tabs import _open

    url, _ = browser_server
    errors: list[str] = []
    page = _open(pw_browser, url, errors)
    page.get_by_role("tab", name="Cloud", exact=True).click()
    page.get_by_label("API key", exact=True).fill(API_KEY)
    for theme in ("light", "dark"):
        if (theme == "dark") != page.evaluate("document.body.classList.contains('body--dark')"):
            page.locator('[aria-label^="Switch to"]').click()
            page.wait_for_function(f"document.body.classList.contains('body--dark') === {str(theme == 'dark').lower()}")
        page.get_by_role("button", name="RunPod GPU types").click()
        page.get_by_text("RTX 4090", exact=True).click()
        page.wait_for_function("[...document.querySelectorAll('input')].some(i => i.value === "
                               "'NVIDIA GeForce RTX 4090')")
        page.get_by_label("GPU type", exact=True).fill("")
    assert page.get_by_text("apply to RunPod pods only", exact=False).is_visible()
    assert runpod_for_server.operations() == ["gpuTypes", "gpuTypes"]
    page.close()
    assert not errors, errors
