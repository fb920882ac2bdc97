"""Stable Diffusion 1.x / 2.x. Facts in `facts.py`, behaviour in `family.py`."""
