"""HunyuanVideo. Facts in `facts.py`, behaviour in `family.py`."""
