"""Reusable inputs bound to config fields."""
