"""Training data: concept folders -> augmented, bucketed, optionally cached batches.

    ds = TrainDataset(train_config, concepts, encode_images=vae_encode, latent_scale=64)
    ds.prepare()                      # scan, clear/fill the cache
    for batch in ds.epoch(epoch, batch_size, start_batch):
        ...                           # batch.pixels or batch.latents, batch.masks, batch.prompts

Epoch contents and order depend only on the concepts' settings and seeds and the epoch number,
so a resumed run sees the same batches.
"""

__all__ = ["Batch", "TrainDataset"]


def __getattr__(name: str):
    # The dataset needs torch; importing it lazily lets the UI use the scanning and bucketing
    # helpers of this package without paying for torch at start-up.
    if name in __all__:
        from . import dataset

        return getattr(dataset, name)
    raise AttributeError(name)
