"""Which base model goes with which model type, as the built-in presets say.

Switching the model type keeps every other setting, the base model included: a Flux base model
left in place for SDXL would fail at load. The presets name the usual base model of each type;
a base model that one of them names for another type is offered to be replaced.
"""
from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path


@cache
def _preset_models(folder: str) -> dict[str, Counter]:
    """model type → how often each base model is named by the presets in `folder`."""
    table: dict[str, Counter] = {}
    for path in sorted(Path(folder).rglob('*.json')):
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        model_type, base = data.get('model_type'), data.get('base_model_name')
        if isinstance(model_type, str) and isinstance(base, str) and base:
            table.setdefault(model_type, Counter())[base] += 1
    return table


def default_base_model(model_type, presets_folder: str | Path) -> str | None:
    """The base model the presets name most for `model_type`."""
    counts = _preset_models(str(presets_folder)).get(str(model_type))
    return counts.most_common(1)[0][0] if counts else None


def belongs_elsewhere(base_model: str, model_type, presets_folder: str | Path) -> bool:
    """`base_model` is a preset's base model of another model type only (so not one for this type)."""
    table = _preset_models(str(presets_folder))
    owners = {mt for mt, counts in table.items() if base_model in counts}
    return bool(owners) and str(model_type) not in owners


def offer_for(base_model: str, model_type, presets_folder: str | Path) -> str | None:
    """The base model to offer after a switch to `model_type`, or None to leave it alone (an own
    path or hub name the presets do not know is the user's choice)."""
    suggestion = default_base_model(model_type, presets_folder)
    if suggestion is None or suggestion == base_model:
        return None
    if not base_model or belongs_elsewhere(base_model, model_type, presets_folder):
        return suggestion
    return None
