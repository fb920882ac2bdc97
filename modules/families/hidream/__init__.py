"""HiDream-I1 Full. Facts in `facts.py`, behaviour in `family.py`."""
