"""The latent / text cache: layout, group hash, reuse, clearing, variations."""

import torch

from modules.data import TrainDataset
from modules.data.cache import group_hash

from .conftest import CountingEncoder, CountingTextEncoder, make_concept, write_image, write_mask


def cached_config(make_config, **fields):
    return make_config(latent_caching=True, clear_cache_before_training=False, **fields)


def build(config, concepts, **kw) -> TrainDataset:
    ds = TrainDataset(config, concepts, latent_scale=8, **kw)
    ds.prepare()
    return ds


def test_layout_and_latents_match_inline_pixels(square_folder, make_config, tmp_path):
    encoder = CountingEncoder()
    concept = make_concept(square_folder, image={"enable_random_flip": True})
    ds = build(cached_config(make_config), [concept], encode_images=encoder)
    variation = tmp_path / "cache" / "image" / group_hash(concept, "image") / "variation-0"
    assert sorted(p.name for p in variation.iterdir()) == ["0.pt", "1.pt", "2.pt", "3.pt", "4.pt", "5.pt",
                                                         "aggregate.pt"]
    assert encoder.images == 6

    inline = TrainDataset(make_config(), [concept])
    inline.prepare()
    cached_batches, inline_batches = list(ds.epoch(0, 2)), list(inline.epoch(0, 2))
    assert [b.image_paths for b in cached_batches] == [b.image_paths for b in inline_batches]
    for cached, plain in zip(cached_batches, inline_batches, strict=True):
        assert cached.pixels is None and cached.latents.shape == (2, 3, 4, 4)
        assert torch.allclose(cached.latents, torch.nn.functional.avg_pool2d(plain.pixels, 8), atol=1e-6)
        assert cached.prompts == plain.prompts


def test_group_hash_follows_augmentation_settings_and_seed(square_folder):
    concept = make_concept(square_folder)
    base = group_hash(concept, "image")
    assert len(base) == 64 and base == group_hash(make_concept(square_folder), "image")
    assert group_hash(make_concept(square_folder, image={"enable_random_flip": True}), "image") != base
    assert group_hash(make_concept(square_folder, seed=7), "image") != base
    assert group_hash(make_concept(square_folder, text={"enable_tag_shuffling": True}), "image") == base
    assert group_hash(make_concept(square_folder, text={"enable_tag_shuffling": True}), "text") != \
        group_hash(concept, "text")


def test_changed_settings_get_a_new_cache_group(square_folder, make_config, tmp_path):
    encoder = CountingEncoder()
    build(cached_config(make_config), [make_concept(square_folder)], encode_images=encoder)
    build(cached_config(make_config), [make_concept(square_folder, image={"enable_fixed_flip": True})],
          encode_images=encoder)
    assert len(list((tmp_path / "cache" / "image").iterdir())) == 2 and encoder.images == 12


def test_second_prepare_reuses_the_cache(square_folder, make_config):
    encoder = CountingEncoder()
    concept = make_concept(square_folder)
    first = build(cached_config(make_config), [concept], encode_images=encoder)
    first.prepare()
    second = build(cached_config(make_config), [concept], encode_images=encoder)
    assert encoder.images == 6
    assert [b.latents.sum() for b in first.epoch(0, 3)] == [b.latents.sum() for b in second.epoch(0, 3)]


def test_cache_is_recomputed_when_files_change(square_folder, make_config):
    encoder = CountingEncoder()
    concept = make_concept(square_folder)
    build(cached_config(make_config), [concept], encode_images=encoder)
    write_image(square_folder / "img6.png", (40, 40), seed=66)
    ds = build(cached_config(make_config), [concept], encode_images=encoder)
    assert encoder.images == 6 + 7 and len(ds) == 7


def test_clear_cache_before_training(square_folder, make_config, tmp_path):
    cache_dir = tmp_path / "cache"
    (cache_dir / "epoch-3").mkdir(parents=True)
    (cache_dir / "quantization").mkdir()
    encoder = CountingEncoder()
    concept = make_concept(square_folder)
    build(cached_config(make_config), [concept], encode_images=encoder)
    build(make_config(latent_caching=True, clear_cache_before_training=True), [concept], encode_images=encoder)
    assert encoder.images == 12
    assert sorted(p.name for p in cache_dir.iterdir()) == ["image", "quantization"]
    # without latent caching the setting is ignored
    build(make_config(latent_caching=False, clear_cache_before_training=True), [concept])
    assert (cache_dir / "image").is_dir()


def test_image_variations_are_cached_lazily_and_cycled(square_folder, make_config, tmp_path):
    encoder = CountingEncoder()
    concept = make_concept(square_folder, image_variations=2, image={"enable_random_flip": True})
    ds = build(cached_config(make_config), [concept], encode_images=encoder)
    group = tmp_path / "cache" / "image" / group_hash(concept, "image")
    assert [p.name for p in group.iterdir()] == ["variation-0"]

    def latents(epoch):
        return {p: b.latents[0] for b in ds.epoch(epoch, 1) for p in b.image_paths}

    epoch0, epoch1, epoch2 = latents(0), latents(1), latents(2)
    assert sorted(p.name for p in group.iterdir()) == ["variation-0", "variation-1"] and encoder.images == 12
    assert all(torch.equal(epoch0[p], epoch2[p]) for p in epoch0)  # variation 0 again
    assert any(not torch.equal(epoch0[p], epoch1[p]) for p in epoch0)  # flips re-drawn for variation 1


def test_text_cache(square_folder, make_config, tmp_path):
    text_encoder = CountingTextEncoder()
    concept = make_concept(square_folder, text_variations=1)
    ds = build(cached_config(make_config), [concept], encode_images=CountingEncoder(),
               encode_prompts=text_encoder)
    text_dir = tmp_path / "cache" / "text" / group_hash(concept, "text") / "variation-0"
    assert (text_dir / "aggregate.pt").is_file() and len(text_encoder.prompts) == 6
    batch = next(iter(ds.epoch(0, 2)))
    assert batch.text["hidden"].shape == (2, 1, 4) and batch.text["pooled"].shape == (2, 1)
    assert batch.text["pooled"][:, 0].tolist() == [float(len(p)) for p in batch.prompts]
    # one text variation: the same caption every epoch
    before = {p: q for b in ds.epoch(0, 1) for p, q in zip(b.image_paths, b.prompts, strict=True)}
    after = {p: q for b in ds.epoch(5, 1) for p, q in zip(b.image_paths, b.prompts, strict=True)}
    assert before == after and len(text_encoder.prompts) == 6


def test_uncached_captions_change_between_epochs(square_folder, make_config):
    ds = build(make_config(), [make_concept(square_folder)])
    per_epoch = [{p: q for b in ds.epoch(e, 1) for p, q in zip(b.image_paths, b.prompts, strict=True)}
                 for e in range(6)]
    assert len({tuple(sorted(d.items())) for d in per_epoch}) > 1


def test_masks_are_cached(tmp_path, make_config):
    folder = tmp_path / "m"
    write_image(folder / "a.png", (32, 32))
    write_mask(folder / "a-masklabel.png", (32, 32), (0, 0, 32, 8))
    ds = build(cached_config(make_config, masked_training=True), [make_concept(folder)],
               encode_images=CountingEncoder())
    batch = next(iter(ds.epoch(0, 1)))
    assert batch.masks.shape == (1, 1, 32, 32) and batch.masks.dtype == torch.float32
    assert batch.masks[0, 0, :8].min() == 1 and batch.masks[0, 0, 8:].max() == 0


def test_without_encoders_nothing_is_cached(square_folder, make_config, tmp_path):
    ds = build(cached_config(make_config), [make_concept(square_folder)])
    assert next(iter(ds.epoch(0, 2))).pixels is not None
    assert not (tmp_path / "cache" / "image").exists()


def test_validation_dataset_keeps_the_cache_and_a_cleared_cache_is_refilled(square_folder, tmp_path,
                                                                            make_config):
    from modules.config.enums import ConceptType

    config = make_config(latent_caching=True, clear_cache_before_training=True)
    encoder = CountingEncoder()
    train = build(config, [make_concept(square_folder)], encode_images=encoder)
    validation = build(config, [make_concept(square_folder, type=ConceptType.VALIDATION, seed=5)],
                       encode_images=encoder, concept_type=ConceptType.VALIDATION)
    assert len(list((tmp_path / "cache" / "image").iterdir())) == 2 and encoder.images == 12
    assert len(list(train.epoch(0, 2))) == 3 and len(list(validation.epoch(0, 2))) == 3

    build(config, [make_concept(square_folder, seed=9)], encode_images=encoder)  # a new run clears everything
    assert len(list(validation.epoch(0, 2))) == 3 and encoder.images == 6 * 4


def test_cached_samples_are_read_from_disk_once_and_kept_within_the_memory_budget(
        square_folder, make_config, monkeypatch):
    import modules.data.cache as cache_files
    import modules.data.dataset as dataset_module

    reads = []
    real_read = cache_files.read_item
    monkeypatch.setattr(cache_files, "read_item", lambda d, i: reads.append((d, i)) or real_read(d, i))
    ds = build(cached_config(make_config), [make_concept(square_folder)], encode_images=CountingEncoder())
    first = [b.latents.clone() for b in ds.epoch(0, 2)]
    assert len(reads) == 6
    again = [b.latents for b in ds.epoch(0, 2)]
    assert len(reads) == 6  # the second pass comes from memory, with the same values
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))

    monkeypatch.setattr(dataset_module, "MEMORY_CACHE_BYTES", 0)  # nothing fits: every pass reads the files
    small = build(cached_config(make_config), [make_concept(square_folder)], encode_images=CountingEncoder())
    reads.clear()
    list(small.epoch(0, 2))
    list(small.epoch(0, 2))
    assert len(reads) == 12
