"""TrainDataset: balancing, bucketed batches, deterministic epochs, resume, masks, loss weights."""

from collections import Counter

import pytest
import torch

from modules.config.enums import BalancingStrategy
from modules.data import Batch, TrainDataset
from modules.data.sampler import epoch_draws, samples_per_epoch

from .conftest import make_concept, write_image, write_mask


def prepared(config, concepts, **kw) -> TrainDataset:
    ds = TrainDataset(config, concepts, **kw)
    ds.prepare()
    return ds


def names(batches: list[Batch]) -> list[list[str]]:
    return [[p.rsplit("/", 1)[-1] for p in b.image_paths] for b in batches]


def test_balancing_counts():
    assert samples_per_epoch(10, 0.5, BalancingStrategy.REPEATS) == 5
    assert samples_per_epoch(10, 2.0, BalancingStrategy.REPEATS) == 20
    assert samples_per_epoch(10, 1.75, BalancingStrategy.REPEATS) == 17
    assert samples_per_epoch(10, 3.9, BalancingStrategy.SAMPLES) == 3
    assert samples_per_epoch(0, 5, BalancingStrategy.SAMPLES) == 0


def test_fewer_samples_than_files_walk_the_files_cyclically():
    # 6 files, 4 per epoch: epoch 0 uses 0-3, epoch 1 uses 4, 5, 0, 1.
    assert [(d.item, d.cycle) for d in epoch_draws([6], [4], 1)] == [(4, 0), (5, 0), (0, 1), (1, 1)]


def test_repeats_and_samples_in_the_dataset(square_folder, mixed_folder, make_config):
    half = make_concept(square_folder, balancing=0.5)
    fixed = make_concept(mixed_folder, balancing=5, balancing_strategy=BalancingStrategy.SAMPLES)
    ds = prepared(make_config(aspect_ratio_bucketing=False), [half, fixed])
    assert len(ds) == 3 + 5
    seen = Counter(n for b in ds.epoch(0, 1) for n in b.concept_names)
    assert seen == {"square": 3, "mixed": 5}

    double = prepared(make_config(), [make_concept(square_folder, balancing=2.0)])
    files = Counter(n for batch in names(list(double.epoch(0, 1))) for n in batch)
    assert len(double) == 12 and set(files.values()) == {2}


def test_epochs_cycle_through_a_down_sampled_concept(square_folder, make_config):
    ds = prepared(make_config(), [make_concept(square_folder, balancing=0.5)])
    seen = [sorted(n for b in names(list(ds.epoch(e, 1))) for n in b) for e in range(2)]
    assert seen[0] == ["img0.png", "img1.png", "img2.png"]
    assert seen[1] == ["img3.png", "img4.png", "img5.png"]


def test_batches_share_one_bucket_and_follow_aspect(mixed_folder, make_config):
    ds = prepared(make_config(resolution="32"), [make_concept(mixed_folder)])
    batches = list(ds.epoch(0, 2))
    assert ds.batches_per_epoch(2) == len(batches) == 6
    for batch in batches:
        h, w = batch.resolution
        assert batch.pixels.shape == (2, 3, h, w) and h % 8 == 0 and w % 8 == 0
        for name in names([batch])[0]:
            kind = "wide" if w > h else "tall" if h > w else "square"
            assert name.startswith(kind)
    assert {b.resolution for b in batches} == {(24, 48), (48, 24), (32, 32)}


def test_partial_batches_are_dropped_per_bucket(mixed_folder, make_config):
    ds = prepared(make_config(), [make_concept(mixed_folder)])
    assert ds.batches_per_epoch(3) == 3  # 4 images in each of 3 buckets -> one full batch each
    assert all(len(b) == 3 for b in ds.epoch(0, 3))


def test_without_bucketing_everything_is_square(mixed_folder, make_config):
    ds = prepared(make_config(aspect_ratio_bucketing=False, resolution="16"), [make_concept(mixed_folder)])
    batches = list(ds.epoch(0, 4))
    assert len(batches) == 3 and {b.resolution for b in batches} == {(16, 16)}


def test_multi_resolution_uses_every_listed_size(mixed_folder, make_config):
    ds = prepared(make_config(aspect_ratio_bucketing=False, resolution="16,32"),
                  [make_concept(mixed_folder, balancing=4.0)])
    assert {b.resolution for b in ds.epoch(0, 1)} == {(16, 16), (32, 32)}


def test_batch_fields(square_folder, make_config):
    ds = prepared(make_config(), [make_concept(square_folder, loss_weight=0.25)])
    batch = next(iter(ds.epoch(0, 3)))
    assert batch.pixels.dtype == torch.float32 and batch.pixels.min() >= -1 and batch.pixels.max() <= 1
    assert batch.latents is None and batch.masks is None and batch.text is None
    assert torch.equal(batch.loss_weights, torch.tensor([0.25] * 3))
    assert batch.concept_names == ["square"] * 3 and batch.resolution == (32, 32)
    assert all(p.startswith("caption ") for p in batch.prompts)
    assert batch.original_sizes == [(40, 40)] * 3 and len(batch.crop_offsets) == 3


def test_order_is_deterministic_per_epoch_and_differs_between_epochs(mixed_folder, make_config):
    def run(epoch, threads=1):
        ds = prepared(make_config(dataloader_threads=threads), [make_concept(mixed_folder, balancing=2.0,
                                                                           image={"enable_random_flip": True})])
        return list(ds.epoch(epoch, 2))

    first, again, threaded = run(0), run(0), run(0, threads=3)
    assert names(first) == names(again) == names(threaded)
    assert all(torch.equal(a.pixels, b.pixels) for a, b in zip(first, threaded, strict=True))
    assert names(run(1)) != names(first)


def test_start_batch_resumes_the_same_epoch(mixed_folder, make_config):
    concepts = [make_concept(mixed_folder, image={"enable_random_rotate": True, "random_rotate_max_angle": 10.0})]
    full = list(prepared(make_config(), concepts).epoch(2, 2))
    resumed = list(prepared(make_config(), concepts).epoch(2, 2, start_batch=4))
    assert names(resumed) == names(full)[4:]
    assert all(torch.equal(a.pixels, b.pixels) and a.prompts == b.prompts
               for a, b in zip(full[4:], resumed, strict=True))


def test_masks(tmp_path, make_config):
    folder = tmp_path / "masked"
    write_image(folder / "with.png", (32, 32))
    write_mask(folder / "with-masklabel.png", (32, 32), (0, 0, 16, 32))  # left half
    write_image(folder / "without.png", (32, 32))
    ds = prepared(make_config(masked_training=True), [make_concept(folder)])
    masks = {n[0]: b.masks[0] for n, b in ((names([b])[0], b) for b in ds.epoch(0, 1))}
    assert masks["with.png"].shape == (1, 32, 32)
    assert masks["with.png"][0, :, :16].min() == 1 and masks["with.png"][0, :, 16:].max() == 0
    assert torch.equal(masks["without.png"], torch.ones(1, 32, 32))
    # the override serves mask-input models even when masked training is off
    assert next(iter(prepared(make_config(), [make_concept(folder)], with_masks=True).epoch(0, 1))).masks is not None


def test_prepare_is_required_and_idempotent(square_folder, make_config):
    ds = TrainDataset(make_config(), [make_concept(square_folder)])
    with pytest.raises(RuntimeError):
        len(ds)
    ds.prepare()
    ds.prepare()
    assert len(ds) == 6


def test_missing_concept_folder_is_reported(tmp_path, make_config):
    with pytest.raises(FileNotFoundError, match="nope"):
        prepared(make_config(), [make_concept(tmp_path / "nope")])


def test_exif_orientation_is_applied(tmp_path, make_config):
    from PIL import Image

    folder = tmp_path / "exif"
    folder.mkdir()
    img = Image.new("RGB", (48, 24), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated: displayed as 24 wide, 48 tall
    img.save(folder / "r.jpg", exif=exif)
    write_image(folder / "tall.png", (24, 48))
    batch = next(iter(prepared(make_config(), [make_concept(folder)]).epoch(0, 2)))
    assert batch.resolution[0] > batch.resolution[1] and len(batch) == 2


def test_batches_of_different_buckets_are_interleaved(mixed_folder, make_config):
    ds = prepared(make_config(), [make_concept(mixed_folder, balancing=3.0)])
    resolutions = [b.resolution for b in ds.epoch(0, 1)]
    changes = sum(a != b for a, b in zip(resolutions, resolutions[1:], strict=False))
    assert len(resolutions) == 36 and changes > 6  # grouped output would change only twice
