"""Concepts whose path names a Hugging Face dataset repository in the local cache."""

import pytest

from modules.data import TrainDataset
from modules.data.hub_dataset import concept_folder, is_cached_dataset

from .conftest import make_concept, write_image

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hugging Face hub cache holding dataset `alice/cats` (three captioned images in its snapshot)."""
    cache = tmp_path / "hub"
    repo = cache / "datasets--alice--cats"
    snapshot = repo / "snapshots" / REVISION
    for i in range(3):
        write_image(snapshot / "train" / f"cat{i}.png", (40, 40), seed=i)
        (snapshot / "train" / f"cat{i}.txt").write_text(f"a cat {i}", encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION, encoding="utf-8")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # "alice/cats" must not exist as a folder here
    return snapshot


def test_a_cached_dataset_is_the_concept_folder(hub_cache, make_config):
    assert concept_folder("alice/cats") == hub_cache and is_cached_dataset("alice/cats")
    ds = TrainDataset(make_config(), [make_concept("alice/cats", include_subdirectories=True)])
    ds.prepare()
    batches = list(ds.epoch(0, 1))
    assert sorted(p for b in batches for p in b.image_paths) == [str(hub_cache / "train" / f"cat{i}.png")
                                                                  for i in range(3)]
    assert sorted(p for b in batches for p in b.prompts) == ["a cat 0", "a cat 1", "a cat 2"]


def test_a_dataset_missing_from_the_cache_is_a_clear_error(hub_cache, make_config):
    assert not is_cached_dataset("alice/dogs")
    with pytest.raises(FileNotFoundError, match=r'"alice/dogs" is not a folder.*not in the local cache'):
        TrainDataset(make_config(), [make_concept("alice/dogs")]).prepare()


def test_a_folder_wins_over_a_dataset_of_the_same_name(hub_cache, tmp_path, make_config):
    write_image(tmp_path / "alice" / "cats" / "local.png", (40, 40))
    assert concept_folder("alice/cats").resolve() == (tmp_path / "alice" / "cats").resolve()
    ds = TrainDataset(make_config(), [make_concept("alice/cats")])
    ds.prepare()
    assert [p.rsplit("/", 1)[-1] for b in ds.epoch(0, 1) for p in b.image_paths] == ["local.png"]


def test_the_config_check_accepts_a_cached_dataset(hub_cache):
    from modules.config.validation import check_concepts

    assert check_concepts([make_concept("alice/cats")]) == []
    (problem,) = check_concepts([make_concept("alice/dogs")])
    assert problem.path == "concepts[0].path" and "local Hugging Face cache" in problem.message
