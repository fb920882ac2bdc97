"""Flux 2 dev and Flux 2 Klein. Facts in `facts.py`, behaviour in `family.py`."""
