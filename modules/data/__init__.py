"""Training data: concept folders -> augmented, bucketed, optionally cached batches."""

from .dataset import Batch, TrainDataset

__all__ = ["Batch", "TrainDataset"]
