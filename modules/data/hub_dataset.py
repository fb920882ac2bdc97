"""Concept paths that name a Hugging Face dataset repository (`owner/name`) instead of a folder.

The repository's snapshot in the local Hugging Face cache is then the concept folder. Nothing is
downloaded: a dataset that is not in the cache is an error that says how to get it there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def names_dataset_repo(path: str) -> bool:
    """`owner/name`: not a folder on disk, but shaped like a repository id."""
    text = str(path).strip()
    return bool(REPO_ID.match(text)) and not os.path.isdir(os.path.expanduser(text))


def concept_folder(path: str, cache_dir: str | None = None) -> Path:
    """The folder a concept's path stands for: the folder itself, or a cached dataset's snapshot.
    A path that is neither stays as it is (scanning reports the missing folder)."""
    text = str(path).strip()
    if not names_dataset_repo(text):
        return Path(os.path.expanduser(text))
    return cached_dataset(text, cache_dir)


def cached_dataset(repo_id: str, cache_dir: str | None = None) -> Path:
    """The local snapshot folder of dataset repository `repo_id` (its `main` revision)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dir = cache_dir or os.environ.get("HF_HUB_CACHE") or None  # read now: tests and users may set it late
    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", local_files_only=True, cache_dir=cache_dir))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        from huggingface_hub import constants

        where = cache_dir or constants.HF_HUB_CACHE
        raise FileNotFoundError(
            f'concept folder not found: "{repo_id}" is not a folder, and the Hugging Face dataset "{repo_id}" is not '
            f"in the local cache ({where}); download it first (hf download {repo_id} --repo-type dataset) or point "
            "the concept at a local folder") from None


def is_cached_dataset(path: str, cache_dir: str | None = None) -> bool:
    if not names_dataset_repo(path):
        return False
    try:
        cached_dataset(str(path).strip(), cache_dir)
    except FileNotFoundError:
        return False
    return True
