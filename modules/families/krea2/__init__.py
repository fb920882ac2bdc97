"""Krea 2. Facts in `facts.py`, behaviour in `family.py`."""
