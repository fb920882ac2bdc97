"""The config a remote run gets: every local path mapped to `<remote_dir>/remote/<absolute path>`.

Path fields are found by their metadata (`widget` 'file' or 'dir'), so a new path field is mapped
without a list to keep up. A value starting with `cloud:` already names a remote path and is used
as it is (without the prefix); a value that is neither absolute nor an existing local path is a hub
model name and stays. Disabled concepts and samples are dropped (nothing of theirs is uploaded).
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

CLOUD_PREFIX = "cloud:"
# written by the run, not read: mapped even when they do not exist yet, never uploaded
OUTPUTS = ("workspace_dir", "cache_dir", "output_model_destination")
# what the remote run does not need (packed into the config, or the remote machine's own settings)
SKIPPED = ("concept_file_name", "sample_definition_file_name", "huggingface_cache_dir")


def remote_path(remote_dir: str, local: str, base_dir: str = ".") -> str:
    absolute = os.path.abspath(os.path.join(base_dir, os.path.expanduser(local)))
    return posixpath.join(remote_dir, "remote", absolute.replace(os.sep, "/").lstrip("/"))


@dataclass
class RemotePlan:
    """The remote config, the local files and folders to upload (local → remote), and where the
    outputs land on each side (dotted field → (local, remote))."""

    config: object
    uploads: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def local_of(self, remote: str) -> str | None:
        """The local path of a remote output file (a sample the run wrote, say)."""
        for local_root, remote_root in self.outputs.values():
            if remote_root and (remote == remote_root or remote.startswith(remote_root.rstrip("/") + "/")):
                return os.path.join(local_root, remote[len(remote_root):].lstrip("/"))
        return None


def _path_fields(config, prefix=""):
    """(dotted path, owner, field) of every path field, list elements (concepts, samples ...) included."""
    for name, owner, f in config.iter_fields(prefix):
        if f.widget in ("file", "dir") and f.type is str:
            yield name, owner, f
    for f in config.FIELDS:
        if f.kind == "config_list":
            for index, item in enumerate(getattr(config, f.name) or []):
                yield from _path_fields(item, f"{prefix}.{f.name}[{index}]" if prefix else f"{f.name}[{index}]")


def remote_only_fields(config) -> set[str]:
    """The dotted paths of the path settings that name a file on the remote machine (a `cloud:` value):
    nothing here can check them."""
    return {name for name, owner, f in _path_fields(config)
            if str(getattr(owner, f.name) or "").startswith(CLOUD_PREFIX)}


def plan_remote_run(config, remote_dir: str, *, cuda: bool, base_dir: str = ".") -> RemotePlan:
    """`config` (a packed, self-contained copy is made; the original is not touched) as the remote run sees it."""
    from modules.config.train_config import TrainConfig

    remote = TrainConfig.default_values().from_dict(config.to_pack_dict(secrets=False, base_dir=base_dir),
                                                    migrate=False)
    remote.concepts = [c for c in remote.concepts if c.enabled]
    remote.samples = [s for s in remote.samples if s.enabled]
    remote.cloud.enabled = False  # the remote run trains where it is
    remote.huggingface_cache_dir = config.cloud.huggingface_cache_dir
    if str(remote.train_device or "cpu") == "cpu" and cuda:
        remote.train_device = "cuda"
    plan = RemotePlan(remote)
    for name, owner, f in _path_fields(remote):
        value = getattr(owner, f.name)
        if name.startswith(("cloud.", "secrets.")) or name in SKIPPED or not value:
            continue
        if value.startswith(CLOUD_PREFIX):
            setattr(owner, f.name, value[len(CLOUD_PREFIX):])
            continue
        local = os.path.abspath(os.path.join(base_dir, os.path.expanduser(value)))
        if name in OUTPUTS:
            plan.outputs[name] = (local, remote_path(remote_dir, local))
        elif os.path.exists(local):
            plan.uploads[local] = remote_path(remote_dir, local)
        elif not os.path.isabs(value):
            continue  # a hub model name
        setattr(owner, f.name, remote_path(remote_dir, local))
    return plan
