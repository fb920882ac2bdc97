"""Flux.1 dev and Flux.1 Fill dev. Facts in `facts.py`, behaviour in `family.py`."""
