"""Concept statistics, augmentation preview and timestep preview computed without the UI."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.config.concept_config import ConceptConfig
from modules.config.enums import TimestepDistribution
from modules.config.train_config import TrainConfig
from ot_nicegui.dialogs.augment_preview import first_image, render_preview
from ot_nicegui.dialogs.concept_stats import ConceptStats, bucket_figure, compute_stats, smallest_buckets
from ot_nicegui.dialogs.timestep_preview import timestep_histogram


def _image(path: Path, size: tuple[int, int], seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(data).save(path)


def make_concept_folder(root: Path) -> Path:
    """4 top-level images (2 wide, 1 square, 1 tall), 1 in a sub-folder, 1 in a hidden folder;
    3 captions (one unpaired), 2 masks (one unpaired)."""
    _image(root / 'a.png', (64, 32))
    _image(root / 'b.png', (64, 32), 1)
    _image(root / 'c.jpg', (40, 40), 2)
    _image(root / 'd.png', (32, 64), 3)
    _image(root / 'sub' / 'e.png', (48, 48), 4)
    _image(root / '.hidden' / 'f.png', (48, 48), 5)
    (root / 'a.txt').write_text('a red apple, fruit')
    (root / 'c.txt').write_text('cat')
    (root / 'orphan.txt').write_text('nobody')
    Image.new('L', (64, 32), 255).save(root / 'a-masklabel.png')
    Image.new('L', (8, 8), 255).save(root / 'zzz-masklabel.png')
    return root


def test_stats_count_files_pairs_and_buckets(tmp_path):
    concept = ConceptConfig.default_values()
    concept.path = str(make_concept_folder(tmp_path / 'c'))
    stats = compute_stats(concept, resolution='512')
    assert (stats.images, stats.captions, stats.masks) == (4, 3, 2)
    assert (stats.images_with_captions, stats.unpaired_captions) == (2, 1)
    assert (stats.images_with_masks, stats.unpaired_masks) == (1, 1)
    assert stats.directories == 1
    assert (stats.min_pixels.detail, stats.min_pixels.file) == ('40×40', 'c.jpg')
    assert (stats.max_pixels.detail, stats.max_pixels.file, stats.max_pixels.value) == ('64×32', 'a.png', 0.002)
    assert stats.min_caption.value == 3 and stats.max_caption.file == 'a.png'
    assert sum(stats.buckets.values()) == 4
    assert stats.buckets['512×512'] == 1
    wide = [k for k, v in stats.buckets.items() if v == 2]
    assert len(wide) == 1 and int(wide[0].split('×')[0]) > int(wide[0].split('×')[1])
    assert list(stats.buckets).index(wide[0]) < list(stats.buckets).index('512×512')
    assert smallest_buckets(stats)[0][1] == 1
    assert bucket_figure(stats)['data'][0]['y'] == list(stats.buckets.values())
    assert ConceptStats.from_dict(stats.to_dict()) == stats

    concept.include_subdirectories = True
    deep = compute_stats(concept, resolution='512')
    assert (deep.images, deep.directories) == (5, 2)  # the hidden folder stays out

    concept.text.prompt_source = 'filename'
    assert compute_stats(concept).images_with_captions == 5


def test_stats_refuse_missing_folder(tmp_path):
    concept = ConceptConfig.default_values()
    concept.path = str(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError):
        compute_stats(concept)


def test_augmentation_preview_follows_the_switches(tmp_path):
    concept = ConceptConfig.default_values()
    concept.path = str(make_concept_folder(tmp_path / 'c'))
    concept.image.enable_crop_jitter = False
    assert first_image(concept).name == 'a.png'
    plain = render_preview(concept, 2, augment=False, variation=0, resolution='64')
    assert plain.file == 'c.jpg' and plain.caption == 'cat' and plain.count == 4
    before = render_preview(concept, 3, augment=True, variation=0, resolution='64')
    concept.image.enable_fixed_flip = True
    flipped = render_preview(concept, 3, augment=True, variation=0, resolution='64')
    assert before.image.size == flipped.image.size
    a, b = np.asarray(before.image), np.asarray(flipped.image)
    assert not np.array_equal(a, b)
    assert np.abs(a[:, ::-1].astype(int) - b.astype(int)).mean() < 2


def test_timestep_histogram_respects_the_range():
    config = TrainConfig.default_values()
    config.min_noising_strength, config.max_noising_strength = 0.2, 0.6
    counts = timestep_histogram(config, samples=100_000, seed=1)
    assert counts.sum() == 100_000 and len(counts) == 1000
    assert counts[:200].sum() == 0 and counts[600:].sum() == 0
    config.min_noising_strength, config.max_noising_strength = 0.0, 1.0
    config.timestep_distribution = TimestepDistribution.LOGIT_NORMAL
    centred = timestep_histogram(config, samples=100_000, seed=1)
    assert centred[400:600].sum() > 2 * centred[:200].sum()
