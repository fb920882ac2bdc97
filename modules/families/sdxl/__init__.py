"""Stable Diffusion XL. Facts in `facts.py`, behaviour in `family.py`."""
