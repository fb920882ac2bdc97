"""The `modelspec.*` (SAI model spec 1.0.0) header written into adapter and single-file checkpoints.

`modelspec.hash_sha256` is added by `safetensors_io.write_safetensors` once the tensors are final.
"""
from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from modules.formats.keymap import FamilyKeymap, require_keymap
from modules.formats.model_spec_table import MODEL_SPECS

SPEC_VERSION = "1.0.0"
_OPTIONAL_FIELDS = ("description", "author", "license", "thumbnail", "resolution", "prediction_type", "usage_hint")


class UnknownModelSpecError(KeyError):
    pass


def spec_entry(model_type, training_method) -> tuple[str, str, str]:
    """(architecture, title, implementation) of the default spec for this model type and method."""
    try:
        return MODEL_SPECS[(str(model_type), str(training_method))]
    except KeyError:
        raise UnknownModelSpecError(f"no model spec for {model_type} / {training_method}") from None


def format_resolution(resolution) -> str:
    """`512` or `"512"` -> `"512x512"`; `(w, h)` -> `"WxH"`; other strings unchanged."""
    if resolution is None or resolution == "":
        return ""
    if isinstance(resolution, int) or (isinstance(resolution, str) and resolution.strip().isdigit()):
        return f"{int(resolution)}x{int(resolution)}"
    if isinstance(resolution, tuple | list):
        return f"{int(resolution[0])}x{int(resolution[1])}"
    return str(resolution)


@lru_cache(maxsize=1)
def _git_info() -> tuple[str, str] | None:
    root = Path(__file__).resolve().parents[2]
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  timeout=5, check=True).stdout.strip()
        return git("rev-parse", "--abbrev-ref", "HEAD"), git("rev-parse", "--short", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None


def ot_config_json(train_config, include_train_config) -> str | None:
    """The `ot_config` header: settings dict for SETTINGS, pack dict for ALL, nothing for NONE.

    `train_config` may be a TrainConfig (its to_settings_dict / to_pack_dict are used) or a plain dict.
    """
    part = str(include_train_config or "NONE")
    if part == "NONE" or train_config is None:
        return None
    if isinstance(train_config, Mapping):
        data = train_config
    elif part == "ALL":
        data = train_config.to_pack_dict(secrets=False)
    else:
        data = train_config.to_settings_dict(secrets=False)
    return json.dumps(data)


def build_model_spec(model_type, training_method, *, date: datetime.date | str | None = None,
                     keymap: FamilyKeymap | None = None, resolution=None, title: str | None = None,
                     architecture: str | None = None, train_config=None, include_train_config="NONE",
                     **optional: str) -> dict[str, str]:
    """Header metadata for a file saved for (model type, training method).

    `keymap` (the model family's) adds the family's own entries (`ss_v2`, `ss_base_model_version`);
    `architecture` overrides the default (e.g. taken from the source checkpoint's own header);
    `optional` takes description, author, license, thumbnail, prediction_type, usage_hint.
    """
    default_architecture, default_title, implementation = spec_entry(model_type, training_method)
    unknown = set(optional) - set(_OPTIONAL_FIELDS)
    if unknown:
        raise TypeError(f"unknown model-spec fields: {sorted(unknown)}")
    if date is None:
        date = datetime.date.today()
    header = {
        "modelspec.sai_model_spec": SPEC_VERSION,
        "modelspec.architecture": architecture or default_architecture,
        "modelspec.implementation": implementation,
        "modelspec.title": title or default_title,
        "modelspec.date": date if isinstance(date, str) else date.strftime("%Y-%m-%d"),
    }
    optional["resolution"] = format_resolution(resolution)
    for name in _OPTIONAL_FIELDS:
        if optional.get(name):
            header[f"modelspec.{name}"] = str(optional[name])
    git = _git_info()
    if git:
        header["ot_branch"], header["ot_revision"] = git
    config_json = ot_config_json(train_config, include_train_config)
    if config_json is not None:
        header["ot_config"] = config_json
    if keymap is not None:
        header.update(require_keymap(keymap).extra_metadata)
    return header
