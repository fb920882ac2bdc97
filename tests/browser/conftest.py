"""What the browser tests share: one Debian Chromium (through Playwright) per test module."""
from __future__ import annotations

from pathlib import Path

import pytest
from deploy.harness import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope='module')
def pw_browser():
    playwright_api = pytest.importorskip('playwright.sync_api')
    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip('chromium is not installed (tests/setup_system.sh installs it)')
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
