"""Shared test fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_reference_dir() -> Path:
    """OneTrainer reference facts beside the checkout (`../shared/reference/onetrainer`)."""
    base = Path(os.environ.get('OT_SHARED_DIR', REPO_ROOT.parent / 'shared'))
    return base / 'reference' / 'onetrainer'


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    path = shared_reference_dir()
    if not path.is_dir():
        pytest.skip(f'OneTrainer reference files not found at {path} (set OT_SHARED_DIR)')
    return path
