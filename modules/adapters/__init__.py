"""Adapters (LoRA family via peft) and textual-inversion embeddings."""
