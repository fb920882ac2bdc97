"""A run that keeps its cache (clear_cache_before_training off) finds the latents and the text encodings
of the last run when the model and the encoders' settings are the same, and writes anew the cache
whose producer changed, and only that one."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def written(monkeypatch):
    """The cache parts ("image", "text") whose aggregates a run writes."""
    from modules.data import cache

    parts: list[str] = []
    real = cache.write_aggregate

    def recording(directory, fingerprint, items):
        parts.append(directory.parent.parent.name)
        real(directory, fingerprint, items)

    monkeypatch.setattr(cache, "write_aggregate", recording)
    return parts


def _started(config):
    from modules.config.concept_config import ConceptConfig
    from modules.engine import create_trainer

    validation = ConceptConfig.default_values()
    validation.path, validation.seed, validation.type = config.concepts[0].path, 2, "VALIDATION"
    config.concepts.append(validation)
    trainer = create_trainer(config)
    trainer.start()
    trainer.end()
    return trainer


def test_a_kept_cache_is_written_anew_only_where_its_producer_changed(make_config, written):
    from modules.config.enums import DataType

    def config(**fields):
        return make_config("STABLE_DIFFUSION_15", "LORA", clear_cache_before_training=False, validation=True,
                           text_encoder__train=False, **fields)

    first = _started(config())
    assert first.dataset.cache_images and first.dataset.cache_text and first.validation_dataset is not None
    assert sorted(written) == ["image", "image", "text", "text"]  # training and validation concepts
    written.clear()
    _started(config())  # (c) nothing changed: both caches are read
    assert written == []
    _started(config(text_encoder_layer_skip=1))  # (a) the captions are encoded anew, the latents stay
    assert written == ["text", "text"]
    written.clear()
    _started(config(text_encoder_layer_skip=1, vae__weight_dtype=DataType.BFLOAT_16))  # (b) the other way
    assert written == ["image", "image"]
    written.clear()
    trainer = _started(config(text_encoder_layer_skip=1, vae__weight_dtype=DataType.BFLOAT_16))
    assert written == []
    batch = next(iter(trainer.dataset.epoch(0, 2)))
    assert batch.latents.dtype == torch.bfloat16 and batch.text["hidden"].shape[0] == 2  # what the bf16 VAE wrote
