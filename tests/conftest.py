"""Shared test fixtures."""
from __future__ import annotations

import os
from pathlib import Path

# No test may reach the Hugging Face hub (this machine has no network; CI must not depend on one).
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import pytest
from ot_test_paths import shared_reference_dir


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    path = shared_reference_dir()
    if not path.is_dir():
        pytest.skip(f'OneTrainer reference files not found at {path} (set OT_SHARED_DIR)')
    return path
