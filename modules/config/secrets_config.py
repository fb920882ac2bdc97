"""Secrets: tokens and credentials that never leave `secrets.json` unless asked for."""
from __future__ import annotations

from modules.config.base import BaseConfig, fields
from modules.config.base import ConfigField as F


class CloudSecretsConfig(BaseConfig):
    """Credentials of the remote machine used for cloud training."""


class SecretsConfig(BaseConfig):
    """The contents of `secrets.json`."""


def mask_secret(value: str) -> str:
    """What a secret looks like when shown: enough to recognise it, never enough to use it."""
    if not value:
        return ''
    if len(value) <= 8:
        return '•' * len(value)
    return value[:3] + '•' * 6 + value[-2:]


CloudSecretsConfig.FIELDS = fields(
    F('api_key', '', str, widget='secret', tooltip='RunPod: the API key of your account (kept here, never sent to the pod).'),
    F('id', '', str, tooltip='RunPod: the id of an existing pod to train on (empty: Create makes one).'),
    F('host', '', str, tooltip='SSH host.'),
    F('port', 0, str, tooltip='SSH port (registered as str, default int 0).'),
    F('user', 'root', str, tooltip='SSH user.'),
    F('key_file', '', str, widget='file', tooltip='SSH private key file (~ expanded).'),
    F('password', '', str, widget='secret', tooltip='SSH password.'),
)

SecretsConfig.FIELDS = fields(
    F('huggingface_token', '', str, widget='secret', tooltip='Access token for private or gated models on the Hugging Face hub.'),
    F('cloud', None, CloudSecretsConfig),
)
