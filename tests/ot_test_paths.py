"""Paths the tests share (importable because pytest puts tests/ on sys.path for conftest.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Set to 1 to skip (rather than fail) the tests that need the shared folder beside the checkout.
ALLOW_MISSING_SHARED = 'OT_ALLOW_MISSING_SHARED'


def shared_dir() -> Path:
    """The shared folder beside the checkout (`../shared`), or `$OT_SHARED_DIR`."""
    return Path(os.environ.get('OT_SHARED_DIR', REPO_ROOT.parent / 'shared'))


def shared_reference_dir() -> Path:
    """OneTrainer reference facts beside the checkout (`../shared/reference/onetrainer`)."""
    return shared_dir() / 'reference' / 'onetrainer'


def require_shared(path: Path) -> Path:
    """`path` (inside the shared folder) when it exists. Otherwise the calling test fails, naming
    the path; it is skipped instead only when `OT_ALLOW_MISSING_SHARED=1` opts out."""
    if path.exists():
        return path
    message = (f'{path} is missing: these tests compare with the shared reference data, which must lie '
               f'beside the checkout (set OT_SHARED_DIR to its folder, or {ALLOW_MISSING_SHARED}=1 to skip them)')
    if os.environ.get(ALLOW_MISSING_SHARED) == '1':
        pytest.skip(message)
    pytest.fail(message, pytrace=False)
