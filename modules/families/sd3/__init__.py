"""Stable Diffusion 3 / 3.5. Facts in `facts.py`, behaviour in `family.py`."""
