"""The check shared by the families whose text cache keeps each caption's own tokens (`token_sequences`
in their facts): a cached caption holds its own tokens only, batches of captions of different lengths
predict exactly what the full-length encoding predicts, and a cache written at the full length is
written anew (an entry at the full length in a batch predicts the same, too)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

# four lengths, so that every batch pads; short enough for each family's test length
CAPTIONS = ("a cat", "a red thing", "dog", "a big red dog")


def caption_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i, caption in enumerate(CAPTIONS):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype("uint8")).save(root / f"{i}.png")
        (root / f"{i}.txt").write_text(caption)
    return root


def _prepared(family, model, cfg, folder: Path):
    from modules.config.concept_config import ConceptConfig
    from modules.data import TrainDataset

    concept = ConceptConfig.default_values()
    concept.path, concept.seed = str(folder), 1  # the seed is part of the cache's key
    dataset = TrainDataset(cfg, [concept], encode_prompts=lambda texts: family.encode_prompts(model, texts, cfg),
                           latent_scale=family.pixel_quantum, token_sequences=family.facts.token_sequences)
    dataset.prepare()
    return dataset


def _token_count(length: torch.Tensor) -> int:
    """Tokens of a right-padded caption: its mask's ones, or its count."""
    return int(length.sum())


def _rows(encoded: dict, rows: list[int]) -> dict:
    return {key: value[rows] for key, value in encoded.items()}


def _check_batches_predict_as_at_full_length(family, model, cfg, dataset, full: dict) -> None:
    from modules.families.base import Inputs

    (sequence,) = family.facts.token_sequences
    row_of = {str(item.path): item.index for item in dataset.groups[0].items}
    for batch_size in (2, len(CAPTIONS)):
        for batch in dataset.epoch(0, batch_size):
            rows = [row_of[path] for path in batch.image_paths]
            reference = _rows(full, rows)  # what the cache held before the cut
            counts = [_token_count(full[sequence.length][row]) for row in rows]
            assert len(set(counts)) == len(rows)
            for key in sequence.keys:
                assert batch.text[key].shape[1] == max(counts) < full[key].shape[1]
            with torch.no_grad():
                x = family.encode_images(model, batch.pixels)
                sigma = torch.linspace(0.3, 0.7, len(rows))
                timesteps = family.model_timesteps(sigma, sigma * 1000)
                ours = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=batch.text), cfg)
                theirs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=reference), cfg)
            assert torch.equal(ours, theirs)


def check_text_cache_keeps_own_tokens(family, model, cfg, tmp_path: Path) -> list[dict]:
    """Runs the check on `CAPTIONS` with `cfg` (its text length longer than every caption); returns the
    cached items in caption order."""
    from modules.data import cache
    from modules.families.base import Inputs

    cfg.model_type = family.model_type
    cfg.latent_caching, cfg.clear_cache_before_training = True, False
    cfg.cache_dir, cfg.resolution, cfg.dataloader_threads = str(tmp_path / "cache"), "64", 1
    folder = caption_folder(tmp_path / "captions")
    dataset = _prepared(family, model, cfg, folder)
    group = dataset.groups[0]
    prompts = [group.pipeline.prompt(item, 0) for item in group.items]
    with torch.no_grad():  # the cache encodes up to four captions a call: these four, as here
        full = family.encode_prompts(model, prompts, cfg)
    directory = cache.variation_dir(cfg.cache_dir, "text", group.text_hash, 0)
    own = [cache.read_item(directory, i) for i in range(len(prompts))]
    (sequence,) = family.facts.token_sequences
    for row, item in enumerate(own):
        count = _token_count(full[sequence.length][row])
        for key in sequence.keys:
            assert item[key].shape[0] == count < full[key].shape[1]
            assert item[key].untyped_storage().nbytes() == item[key].nbytes  # the file holds the cut only
            assert torch.equal(item[key], full[key][row, :count])
    _check_batches_predict_as_at_full_length(family, model, cfg, dataset, full)

    # a cache written before the cut: full-length entries under the fingerprint of that time
    for row in range(len(prompts)):
        cache.write_item(directory, row, {key: value[row].clone() for key, value in full.items()})
    cache.write_aggregate(directory, [[str(item.path) for item in group.items], prompts],
                          [{"prompt": prompt} for prompt in prompts])
    refreshed = _prepared(family, model, cfg, folder)
    for row, item in enumerate(own):
        rewritten = cache.read_item(directory, row)
        assert rewritten.keys() == item.keys() and all(torch.equal(rewritten[k], item[k]) for k in item)
    _check_batches_predict_as_at_full_length(family, model, cfg, refreshed, full)

    # and a full-length entry met in a batch of cut ones pads the batch to the full length
    from modules.data.token_sequences import collated

    mixed = collated([{key: value[0] for key, value in full.items()}, own[1]], family.facts.token_sequences)
    x = torch.randn(2, *family.encode_images(model, torch.zeros(1, 3, 64, 64)).shape[1:],
                    generator=torch.Generator().manual_seed(0))
    timesteps = family.model_timesteps(torch.tensor([0.4, 0.6]), torch.tensor([400, 600]))
    with torch.no_grad():
        ours = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=mixed), cfg)
        theirs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=_rows(full, [0, 1])), cfg)
    assert torch.equal(ours, theirs)
    return own
