"""Cloud configs for the test SSH server, and what a run leaves on either side."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "hf_" + secrets.token_hex(12)  # made at run time: the uploaded source cannot contain it


def cloud_config(config, remote: Path, **changes):
    """`config` trained on the test server, in the remote machine's folder `remote`."""
    from modules.config.enums import CloudType

    cloud = config.cloud
    cloud.enabled, cloud.type = True, CloudType.LINUX
    cloud.remote_dir = str(remote)
    cloud.onetrainer_dir = str(remote / "OneTrainer")
    cloud.huggingface_cache_dir = str(remote / "hf-cache")
    cloud.run_id = "test-run"
    for name, value in changes.items():
        setattr(cloud, name, value)
    return config


def write_run_files(config, server, folder: Path) -> tuple[Path, Path]:
    """The config and secrets files a CLI run reads (the secrets with a token that must stay here)."""
    config_path, secrets_path = folder / "config.json", folder / "secrets.json"
    config_path.write_text(json.dumps(config.to_pack_dict(secrets=False)))
    run_secrets = server.secrets()
    run_secrets.huggingface_token = TOKEN
    secrets_path.write_text(json.dumps(run_secrets.to_dict()))
    return config_path, secrets_path


def remote_env() -> dict:
    """The remote side reuses this python (no set-up of torch on the "remote" machine)."""
    env = dict(os.environ, OT_CLOUD_PYTHON=sys.executable, PYTHONPATH=str(PROJECT), HF_HUB_OFFLINE="1")
    return env


def run_cli(config_path, secrets_path, data_dir, timeout=600):
    return subprocess.run([sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path),
                           "--secrets-path", str(secrets_path)], cwd=data_dir, env=remote_env(),
                          capture_output=True, text=True, timeout=timeout)


def tree_digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def files_containing(folder, needle: bytes) -> list[str]:
    return [str(p) for p in Path(folder).rglob("*") if p.is_file() and needle in p.read_bytes()]
