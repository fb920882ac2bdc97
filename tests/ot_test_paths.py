"""Paths the tests share (importable because pytest puts tests/ on sys.path for conftest.py)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_reference_dir() -> Path:
    """OneTrainer reference facts beside the checkout (`../shared/reference/onetrainer`)."""
    base = Path(os.environ.get('OT_SHARED_DIR', REPO_ROOT.parent / 'shared'))
    return base / 'reference' / 'onetrainer'
