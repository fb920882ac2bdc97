"""Ideogram 4. Facts in `facts.py`, behaviour in `family.py`."""
