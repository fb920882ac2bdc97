"""Splitting parameter groups into Muon and auxiliary-Adam subgroups (MUON, MUON_ADV, ADAMUON_ADV).

Muon orthogonalizes updates of hidden weight matrices; embeddings, norms, biases and the
layers outside the hidden blocks are trained by an auxiliary Adam. A parameter is a Muon
parameter when its name matches one of the hidden-layer patterns and it is not 1-D. Groups may
carry ``param_names`` (parallel to ``params``); without names only the dimensionality decides.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from modules.config.enums import ModelType

# (ModelType predicates, default hidden-layer patterns), first match wins.
_DEFAULT_HIDDEN_LAYERS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (('is_stable_diffusion', 'is_stable_diffusion_xl', 'is_wuerstchen'), ('block', 'text_model.encoder.layers')),
    (('is_krea2',), ('transformer_blocks', 'text_fusion.layerwise_blocks', 'text_fusion.refiner_blocks')),
    (('is_stable_diffusion_3', 'is_sana', 'is_flux', 'is_chroma', 'is_qwen', 'is_pixart', 'is_anima'),
     ('transformer_blocks', 'encoder.block')),
    (('is_hi_dream',), ('caption_projection', 'double_stream_blocks', 'single_stream_blocks')),
    (('is_z_image', 'is_ernie', 'is_ideogram'), ('layers', 'refiner')),
)
# Model types OneTrainer gives no default for: the user must name the hidden layers.
_WITHOUT_DEFAULT = frozenset({'FLUX_FILL_DEV_1', 'HUNYUAN_VIDEO'})

_TEXT_ENCODER_1_GROUPS = frozenset({'text_encoder', 'text_encoder_1', 'text_encoder_lora', 'text_encoder_1_lora'})
_TEXT_ENCODER_2_GROUPS = frozenset({'text_encoder_2', 'text_encoder_2_lora'})


def hidden_layer_patterns(optimizer_config, model_type: ModelType | str) -> tuple[tuple[str, ...], bool]:
    """(patterns, patterns_are_regex) for the Muon parameters of this model."""
    custom = optimizer_config.muon_hidden_layers
    if custom:
        patterns = tuple(p.strip() for p in custom.split(',') if p.strip())
        return patterns, bool(optimizer_config.muon_adam_regex)
    model_type = ModelType(model_type)
    if model_type.value not in _WITHOUT_DEFAULT:
        for predicates, patterns in _DEFAULT_HIDDEN_LAYERS:
            if any(getattr(model_type, predicate)() for predicate in predicates):
                return patterns, False
    raise ValueError(
        f'Muon needs to know the hidden layers of {model_type.value}: set "muon_hidden_layers" '
        '(comma-separated name parts, or regular expressions with "muon_adam_regex").'
    )


def _matches(name: str, patterns: Sequence[str], regex: bool) -> bool:
    if regex:
        return any(re.search(pattern, name) for pattern in patterns)
    return any(pattern in name for pattern in patterns)


def _adam_learning_rate(group: dict, optimizer_config) -> float:
    name = group.get('name', '')
    if name in _TEXT_ENCODER_1_GROUPS and optimizer_config.muon_te1_adam_lr is not None:
        return optimizer_config.muon_te1_adam_lr
    if name in _TEXT_ENCODER_2_GROUPS and optimizer_config.muon_te2_adam_lr is not None:
        return optimizer_config.muon_te2_adam_lr
    if optimizer_config.muon_adam_lr is not None:
        return optimizer_config.muon_adam_lr
    return group['lr']


def split_muon_groups(groups: list[dict], optimizer_config, model_type) -> list[dict]:
    """Each group becomes a Muon subgroup and an Adam subgroup (empty ones are dropped).

    Subgroups carry ``optim_type`` ("muon"/"adam") and ``use_muon``; when a group really splits,
    the halves are named ``<name>_<optim_type>`` so logs and saved state keep them apart.
    """
    with_aux_adam = bool(optimizer_config.MuonWithAuxAdam)
    patterns, regex = hidden_layer_patterns(optimizer_config, model_type) if with_aux_adam else ((), False)
    result = []
    for group in groups:
        rest = {k: v for k, v in group.items() if k not in ('params', 'param_names')}
        params = list(group['params'])
        names = group.get('param_names')
        muon, adam = [], []
        for index, param in enumerate(params):
            by_name = names is None or not with_aux_adam or _matches(names[index], patterns, regex)
            (muon if by_name and param.ndim >= 2 else adam).append(param)
        parts = [(p, kind) for p, kind in ((muon, 'muon'), (adam, 'adam')) if p]
        for part, kind in parts:
            subgroup = {**rest, 'params': part, 'optim_type': kind, 'use_muon': kind == 'muon'}
            if kind == 'adam':
                subgroup['lr'] = _adam_learning_rate(group, optimizer_config)
            if len(parts) > 1 and 'name' in group:
                subgroup['name'] = f"{group['name']}_{kind}"
            result.append(subgroup)
    return result
