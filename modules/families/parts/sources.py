"""Where a model comes from: a local folder or file, or a Hugging Face hub repository.

A hub name (`org/name`) that is not a local path is downloaded into the Hugging Face cache (or
`huggingface_cache_dir`) and loaded from there like any diffusers folder. Only what a diffusers
folder needs is fetched: configs, tokenizers and the default-precision safetensors weights, not
the extra single-file checkpoints and fp16 variants many repositories also carry.
"""
from __future__ import annotations

import os

DIFFUSERS_FOLDER_PATTERNS = [
    'model_index.json',
    'modular_model_index.json',
    '*/*.json',
    '*/*.txt',
    '*/*.model',
    '*/*.tiktoken',
    '*/diffusion_pytorch_model.safetensors',
    '*/diffusion_pytorch_model-*-of-*.safetensors',
    '*/model.safetensors',
    '*/model-*-of-*.safetensors',
]


def is_local(source: str) -> bool:
    return os.path.exists(os.path.expanduser(source))


def offline(config) -> bool:
    from huggingface_hub import constants

    return bool(getattr(config, 'offline_mode', False)) or bool(constants.HF_HUB_OFFLINE)


def local_model_path(source: str, config=None) -> str:
    """A local path for `source`, downloading a hub repository when needed (cache first)."""
    source = source.strip()
    if is_local(source):
        return os.path.expanduser(source)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    secrets = getattr(config, 'secrets', None)
    token = getattr(secrets, 'huggingface_token', '') or None
    cache_dir = getattr(config, 'huggingface_cache_dir', '') or None
    try:
        return snapshot_download(source, cache_dir=cache_dir, token=token, local_files_only=offline(config),
                                 allow_patterns=DIFFUSERS_FOLDER_PATTERNS)
    except LocalEntryNotFoundError:
        # only "offline mode is on" when it is: a hub that cannot be reached is a different problem
        if getattr(config, 'offline_mode', False):
            why = 'offline mode is on; download it first'
        elif offline(config):
            why = 'the Hugging Face hub is switched off on this machine (HF_HUB_OFFLINE); download it first'
        else:
            why = 'the Hugging Face hub could not be reached; check the network connection'
        raise FileNotFoundError(f'"{source}" is neither a local folder or file nor in the Hugging Face cache, and '
                                f'{why}, or point the model setting at a local copy') from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise FileNotFoundError(f'could not load "{source}": it is not a local path and the Hugging Face hub '
                                f'could not provide it ({type(exc).__name__}: {exc})') from exc
