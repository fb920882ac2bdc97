"""Stable Cascade. Facts in `facts.py`, behaviour in `family.py` (on `parts/stage_c.py`)."""
