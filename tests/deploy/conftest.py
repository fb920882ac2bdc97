"""Fixtures for the deployment tests: a real browser (Debian's Chromium through Playwright)."""
from __future__ import annotations

import pytest

from deploy.harness import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope='module')
def pw_browser():
    playwright_api = pytest.importorskip('playwright.sync_api')
    executable = chromium_path()
    if executable is None:
        pytest.skip('chromium is not installed (tests/setup_system.sh installs it)')
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
