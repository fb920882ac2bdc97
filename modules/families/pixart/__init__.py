"""PixArt-α and PixArt-Σ. Facts in `facts.py`, behaviour in `family.py`."""
