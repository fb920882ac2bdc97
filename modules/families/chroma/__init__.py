"""Chroma1. Facts in `facts.py`, behaviour in `family.py`."""
