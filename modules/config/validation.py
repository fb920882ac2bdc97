"""Checks a config before training and reports every problem at once, each naming its field.

Three kinds of checks: each value against its field (type, null, range), combinations that cannot
work together (an output format the training method cannot write, a loss weighting the model's
noise schedule does not support ...), and paths that must exist.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from modules.config.base import BaseConfig, ConfigError, ConfigField
from modules.config.concept_config import ConceptConfig
from modules.config.enums import LearningRateScheduler, Optimizer, TimeUnit, TrainingMethod
from modules.config.files import load_concepts
from modules.config.train_config import TrainConfig

Severity = Literal['error', 'warning']

_RESOLUTION = re.compile(r'^\s*\d+(\s*x\s*\d+)?\s*(,\s*\d+(\s*x\s*\d+)?\s*)*$')
_HUB_REPO_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
_DOTTED_NAME = re.compile(r'^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$')


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    severity: Severity = 'error'

    def __str__(self) -> str:
        return f'{self.severity}: {self.path}: {self.message}'


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == 'error']


# ---- single values -------------------------------------------------------------------------------
def check_value(f: ConfigField, value: object) -> str | None:
    """Why `value` cannot be stored in field `f`, or None when it can."""
    if value is None:
        return None if f.nullable else 'a value is required'
    kind = f.kind
    if kind == 'enum':
        return None if isinstance(value, f.type) else f'must be one of {", ".join(f.type.__members__)}'
    if f.type is bool:
        return None if isinstance(value, bool) else 'must be true or false'
    if f.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return 'must be a whole number'
    elif f.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return 'must be a number'
        if value != value:  # NaN
            return 'must be a number'
    elif f.type is str:
        # OneTrainer declares a few text fields with a numeric default (the SSH port); accept it.
        if not isinstance(value, str) and not (isinstance(f.default, int) and isinstance(value, int)):
            return 'must be text'
        return None
    elif f.type in (list, dict) and kind == 'raw':
        return None if isinstance(value, f.type) else f'must be a {"list" if f.type is list else "JSON object"}'
    else:
        return None
    if f.min is not None and value < f.min:
        return f'must be at least {f.min:g}'
    if f.max is not None and value > f.max:
        return f'must be at most {f.max:g}'
    return None


def check_fields(config: BaseConfig, prefix: str = '') -> list[Problem]:
    """Every field of `config` and of its nested configs checked against its declaration."""
    problems: list[Problem] = []
    for f in config.FIELDS:
        path = f'{prefix}.{f.name}' if prefix else f.name
        value = getattr(config, f.name)
        kind = f.kind
        if kind == 'config':
            problems += check_fields(value, path)
        elif kind == 'config_list':
            if value is None:
                if not f.nullable:
                    problems.append(Problem(path, 'a list is required'))
                continue
            for i, item in enumerate(value):
                problems += check_fields(item, f'{path}[{i}]')
        elif kind == 'config_dict':
            for key, item in value.items():
                problems += check_fields(item, f'{path}.{key}')
        else:
            reason = check_value(f, value)
            if reason:
                problems.append(Problem(path, reason))
    return problems


# ---- combinations --------------------------------------------------------------------------------
def enum_label(value: object) -> str:
    return value.label if isinstance(value, Enum) and hasattr(value, 'label') else str(value)


def check_combinations(config: TrainConfig) -> list[Problem]:
    problems: list[Problem] = []
    model_type, method = config.model_type, config.training_method
    if not isinstance(model_type, Enum) or not isinstance(method, Enum):
        return problems  # already reported as bad values
    if method not in model_type.supported_training_methods():
        problems.append(Problem('training_method',
                                f'{enum_label(model_type)} cannot be trained with {enum_label(method)}'))
    formats = model_type.supported_output_formats(method)
    if isinstance(config.output_model_format, Enum) and config.output_model_format not in formats:
        allowed = ', '.join(enum_label(f) for f in formats) or 'none'
        problems.append(Problem('output_model_format',
                                f'{enum_label(method)} of {enum_label(model_type)} cannot be saved as '
                                f'{enum_label(config.output_model_format)} (possible: {allowed})'))
    if (model_type.is_flow_matching() and isinstance(config.loss_weight_fn, Enum)
            and not config.loss_weight_fn.supports_flow_matching()):
        problems.append(Problem('loss_weight_fn', f'{enum_label(config.loss_weight_fn)} does not apply to '
                                                  f'flow-matching models such as {enum_label(model_type)}'))
    if isinstance(config.resolution, str) and not _RESOLUTION.match(config.resolution):
        problems.append(Problem('resolution', 'use a size like "512", "512x768", or a comma list of them'))
    if isinstance(config.frames, str) and config.frames.strip() and not _RESOLUTION.match(config.frames):
        problems.append(Problem('frames', 'use a whole number, or a comma list of them'))
    if config.layer_filter_regex and isinstance(config.layer_filter, str):
        for pattern in filter(None, (p.strip() for p in config.layer_filter.split(','))):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(Problem('layer_filter', f'"{pattern}" is not a valid regular expression ({exc})'))
    if isinstance(config.learning_rate, (int, float)) and config.learning_rate <= 0:
        problems.append(Problem('learning_rate', 'must be greater than 0'))
    if isinstance(config.ema_decay, (int, float)) and not 0 <= config.ema_decay < 1:
        problems.append(Problem('ema_decay', 'must be at least 0 and below 1'))
    if config.learning_rate_scheduler == LearningRateScheduler.CUSTOM:
        name = config.custom_learning_rate_scheduler or ''
        if not _DOTTED_NAME.match(name):
            problems.append(Problem('custom_learning_rate_scheduler',
                                    'name the scheduler class with its module, e.g. "my_module.MyScheduler"'))
    for i, entry in enumerate(config.scheduler_params if isinstance(config.scheduler_params, list) else []):
        if not (isinstance(entry, dict) and isinstance(entry.get('key'), str) and isinstance(entry.get('value'), str)):
            problems.append(Problem(f'scheduler_params[{i}]', 'each parameter needs a "key" and a "value" text'))
    for key in config.optimizer_defaults:
        if key not in Optimizer.__members__:
            problems.append(Problem(f'optimizer_defaults.{key}', 'is not an optimizer name'))
    if method == TrainingMethod.EMBEDDING and not config.embedding.placeholder.strip():
        problems.append(Problem('embedding.placeholder', 'an embedding needs a placeholder text'))
    for i, embedding in enumerate(config.additional_embeddings):
        if not embedding.placeholder.strip():
            problems.append(Problem(f'additional_embeddings[{i}].placeholder', 'an embedding needs a placeholder text'))
    for name in ('workspace_dir', 'cache_dir'):
        if isinstance(getattr(config, name), str) and not getattr(config, name).strip():
            problems.append(Problem(name, 'a folder is required'))
    return problems


# ---- paths ---------------------------------------------------------------------------------------
def _looks_local(path: str) -> bool:
    return os.path.isabs(path) or path.startswith(('.', '~')) or os.sep in path and not _HUB_REPO_ID.match(path)


def _check_model_path(path: str, field: str, offline: bool, required: bool, allow_hub: bool = True) -> list[Problem]:
    path = path.strip()
    if not path:
        return [Problem(field, 'a model is required')] if required else []
    expanded = os.path.expanduser(path)
    if os.path.exists(expanded):
        return []
    if allow_hub and _HUB_REPO_ID.match(path) and not _looks_local(path):
        if offline:
            return [Problem(field, f'"{path}" is not a local path and offline mode is on')]
        return []
    return [Problem(field, f'"{path}" does not exist')]


def _resolve(path: str, base_dir: str | None) -> str:
    path = os.path.expanduser(path)
    return path if base_dir is None or os.path.isabs(path) else os.path.join(base_dir, path)


def check_paths(config: TrainConfig, base_dir: str | None = None) -> list[Problem]:
    problems = _check_model_path(config.base_model_name, 'base_model_name', config.offline_mode, True)
    if config.training_method == TrainingMethod.LORA and config.lora_model_name:
        problems += _check_model_path(config.lora_model_name, 'lora_model_name', config.offline_mode, False,
                                      allow_hub=False)
    for prefix, embedding in [('embedding', config.embedding)] + [
            (f'additional_embeddings[{i}]', e) for i, e in enumerate(config.additional_embeddings)]:
        if embedding.model_name and not os.path.exists(_resolve(embedding.model_name, base_dir)):
            problems.append(Problem(f'{prefix}.model_name', f'"{embedding.model_name}" does not exist'))
    concepts = config.concepts
    if concepts is None:
        concept_file = _resolve(config.concept_file_name, base_dir)
        try:
            concepts = load_concepts(concept_file)
        except ConfigError as exc:
            problems.append(Problem('concept_file_name', exc.reason))
            concepts = []
    problems += check_concepts(concepts, base_dir)
    if config.samples is None and config.sample_after_unit != TimeUnit.NEVER:
        if not os.path.exists(_resolve(config.sample_definition_file_name, base_dir)):
            problems.append(Problem('sample_definition_file_name',
                                    'the sample file does not exist; training runs without samples', 'warning'))
    if config.prevent_overwrites and os.path.exists(_resolve(config.output_model_destination, base_dir)):
        problems.append(Problem('output_model_destination', 'exists already and overwriting is switched off'))
    if config.continue_last_backup and config.get_last_backup_path() is None:
        problems.append(Problem('continue_last_backup', 'there is no backup in the workspace yet; training '
                                                        'starts from the beginning', 'warning'))
    return problems


def check_concepts(concepts: list[ConceptConfig], base_dir: str | None = None) -> list[Problem]:
    problems: list[Problem] = []
    enabled = [(i, c) for i, c in enumerate(concepts) if c.enabled]
    if not enabled:
        problems.append(Problem('concepts', 'no enabled concept: add a folder of training images'))
    for i, concept in enabled:
        prefix = f'concepts[{i}]'
        if not concept.path.strip():
            problems.append(Problem(f'{prefix}.path', 'a folder is required'))
        elif not os.path.isdir(_resolve(concept.path, base_dir)) and not _cached_dataset(concept.path):
            problems.append(Problem(f'{prefix}.path', f'"{concept.path}" is not a folder (nor a dataset in the '
                                                      'local Hugging Face cache)'))
        if concept.text.prompt_source == 'concept' and not os.path.isfile(_resolve(concept.text.prompt_path, base_dir)):
            problems.append(Problem(f'{prefix}.text.prompt_path', f'"{concept.text.prompt_path}" does not exist'))
    return problems


def _cached_dataset(path: str) -> bool:
    """A concept path may name a Hugging Face dataset repository in the local cache (the data pipeline reads its snapshot)."""
    if not _HUB_REPO_ID.match(path.strip()):
        return False
    from modules.data.hub_dataset import is_cached_dataset

    return is_cached_dataset(path)


def check_runpod(config: TrainConfig) -> list[Problem]:
    """What a RunPod run needs before it can ask RunPod for a pod (cloud training on, type RUNPOD)."""
    cloud, secrets = config.cloud, getattr(config.secrets, 'cloud', None)
    if not (cloud.enabled and str(cloud.type) == 'RUNPOD') or secrets is None:
        return []
    problems = []
    if not str(secrets.api_key).strip():
        problems.append(Problem('secrets.cloud.api_key', 'a RunPod run needs the API key of your RunPod account'))
    if not str(secrets.id).strip():
        if not cloud.create:
            problems.append(Problem('cloud.create', "turn on Create for a new pod, or enter the pod's ID"))
        elif not str(cloud.gpu_type).strip():
            problems.append(Problem('cloud.gpu_type', 'a new pod needs a GPU type'))
    if str(cloud.sub_type).strip().upper() not in ('', 'COMMUNITY', 'SECURE'):
        problems.append(Problem('cloud.sub_type', 'leave it empty, or COMMUNITY or SECURE'))
    return problems


def validate(config: TrainConfig, *, paths: bool = True, base_dir: str | None = None) -> list[Problem]:
    """Every problem of `config`: bad values, impossible combinations and (optionally) missing paths."""
    problems = check_fields(config) + check_combinations(config) + check_runpod(config)
    if paths:
        problems += check_paths(config, base_dir)
    return problems
