"""Base models named by a Hugging Face hub id load from the hub cache like a local folder."""
from __future__ import annotations

import shutil

import pytest

from modules.families import family_for
from modules.families.parts.sources import local_model_path


def _fake_hub_cache(cache, repo_id: str, folder: str) -> None:
    """The layout huggingface_hub keeps on disk: blobs behind a snapshot folder named by a revision."""
    repo = cache / ('models--' + repo_id.replace('/', '--'))
    revision = '0123456789abcdef0123456789abcdef01234567'
    shutil.copytree(folder, repo / 'snapshots' / revision)
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(revision)


def test_hub_id_loads_from_cache_offline(make_config, tiny_model, tmp_path):
    cache = tmp_path / 'hf-cache'
    _fake_hub_cache(cache, 'test-org/tiny-sd15', tiny_model('STABLE_DIFFUSION_15'))
    config = make_config('STABLE_DIFFUSION_15', 'LORA')
    config.base_model_name = 'test-org/tiny-sd15'
    config.huggingface_cache_dir = str(cache)
    config.offline_mode = True
    model = family_for(config.model_type).load(config.base_model_name, config)
    assert {'unet', 'vae', 'text_encoder'} <= set(model.components)


def test_unknown_hub_id_offline_names_the_model(make_config, tmp_path):
    config = make_config('STABLE_DIFFUSION_15', 'LORA')
    config.huggingface_cache_dir = str(tmp_path / 'empty-cache')
    config.offline_mode = True
    with pytest.raises(FileNotFoundError, match='some-org/not-there'):
        local_model_path('some-org/not-there', config)


def test_local_paths_are_used_as_they_are(tiny_model):
    folder = tiny_model('STABLE_DIFFUSION_15')
    assert local_model_path(folder) == folder
