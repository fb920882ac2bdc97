"""Shared test fixtures."""
from __future__ import annotations

import os
from pathlib import Path

# No test may reach the Hugging Face hub (this machine has no network; CI must not depend on one).
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import pytest
from hypothesis import settings
from ot_test_paths import require_shared, shared_reference_dir

# Property tests draw the same examples on every run so that the suite's verdict is reproducible;
# OT_FUZZ_EXPLORE=1 draws fresh ones (run it locally to look for new failures).
settings.register_profile('reproducible', derandomize=True, database=None)
settings.register_profile('explore')
settings.load_profile('explore' if os.environ.get('OT_FUZZ_EXPLORE') else 'reproducible')

# Under pytest-xdist the workers share the cores: one torch thread each, in the processes they start too
# (the environment variable, read when torch loads), instead of every process contending for all of them.
IN_XDIST_WORKER = bool(os.environ.get('PYTEST_XDIST_WORKER'))
if IN_XDIST_WORKER:
    os.environ['OMP_NUM_THREADS'] = '1'


def pytest_collection_finish(session: pytest.Session) -> None:
    if IN_XDIST_WORKER:
        import torch

        torch.set_num_threads(1)  # after collection: a test folder's conftest may have set its own count


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    """The OneTrainer reference facts; a test that asks for them fails when they are missing."""
    return require_shared(shared_reference_dir())


@pytest.fixture
def model_type_without_family(monkeypatch):
    """A model type that no family trains (PixArt α, its package left out of the registry for the test):
    every model type has a family, and refusal paths still need one that has none."""
    from modules.config.enums import ModelType
    from modules.families import registry

    monkeypatch.setattr(registry, 'PACKAGES', tuple(p for p in registry.PACKAGES if p != 'pixart'))
    registry._facts_by_model_type.cache_clear()
    yield ModelType.PIXART_ALPHA
    monkeypatch.undo()
    registry._facts_by_model_type.cache_clear()


@pytest.fixture(scope='module')
def pw_browser():
    """One Debian Chromium (through Playwright) per test module, for the tests in a real browser."""
    from deploy.harness import CHROMIUM_ARGS, chromium_path

    playwright_api = pytest.importorskip('playwright.sync_api')
    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip('chromium is not installed (tests/setup_system.sh installs it)')
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
