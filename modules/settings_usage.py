"""Which settings take effect, for which model types: the audit of every TrainConfig setting as data.

Every scalar and enum setting (a dotted path such as `learning_rate`, `cloud.enabled`,
`text_encoder_2.train`) is in exactly one of three classes:

- generic: read by the family-free engine (trainer, data pipeline, optimizer, loss, objectives,
  sampling, backup, validation at Start) for every model type. `GENERIC` says what reads each one.
- family-specific: takes effect only for a model family whose `FamilyFacts.reads` names it
  (`FAMILY_SPECIFIC`). Sub-settings of model parts (`unet.*`, `text_encoder_2.*`, `vae.*` ...) take
  effect when the family has that part and the engine reads that sub-setting for the part's role
  (`PART_SETTINGS`); a few part sub-settings are family-specific themselves (`PART_FAMILY_SETTINGS`).
- not implemented yet: nothing reads it (`NOT_IMPLEMENTED`, with what it would do).

`setting_warnings` turns this into warnings for a config (one per changed setting that would be
ignored), `setting_status` answers for one setting and model type (the UI marks fields with it).
The test of this module scans the backend source, so the table cannot drift from the code.

Pure data: importable without torch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from modules.config.base import BaseConfig
from modules.config.train_config import TrainConfig, TrainModelPartConfig
from modules.config.validation import Problem, enum_label

if TYPE_CHECKING:
    from modules.families.base import FamilyFacts

Kind = Literal['generic', 'family', 'not_implemented']

NOT_IMPLEMENTED_MESSAGE = 'not implemented yet'

# ---- generic: read by the family-free engine ---------------------------------------------------
GENERIC: dict[str, str] = {
    'training_method': 'trainer, method setup',
    'model_type': 'trainer (family lookup), formats',
    'workspace_dir': 'workspace',
    'cache_dir': 'data pipeline cache',
    'huggingface_cache_dir': 'model sources (hub downloads)',
    'offline_mode': 'model sources, validation',
    'tensorboard': 'trainer (TensorBoard process)',
    'tensorboard_expose': 'trainer (TensorBoard --bind_all)',
    'tensorboard_always_on': 'trainer, TensorBoard tab',
    'tensorboard_port': 'trainer, TensorBoard tab',
    'validation': 'trainer (validation loss)',
    'validate_after': 'trainer',
    'validate_after_unit': 'trainer',
    'continue_last_backup': 'trainer, validation',
    'prevent_overwrites': 'validation at Start refuses an existing output path',
    'include_train_config': 'model-spec header of saved files',
    'base_model_name': 'trainer, validation',
    'output_dtype': 'trainer (saving)',
    'output_model_format': 'trainer (saving)',
    'output_model_destination': 'trainer (final save)',
    'concept_file_name': 'trainer, workspace',
    'multi_gpu': 'engine (one process per device, torch.distributed)',
    'device_indexes': 'engine, distributed (rank devices)',
    'gradient_reduce_precision': 'distributed (gradient reduce)',
    'custom_conditioning_image': 'data pipeline (-condlabel images of mask-input models)',
    'aspect_ratio_bucketing': 'data pipeline',
    'latent_caching': 'data pipeline',
    'clear_cache_before_training': 'data pipeline',
    'learning_rate_scheduler': 'LR scheduler',
    'custom_learning_rate_scheduler': 'LR scheduler',
    'learning_rate': 'optimizer, LR scheduler',
    'learning_rate_warmup_steps': 'LR scheduler, optimizer wiring',
    'learning_rate_cycles': 'LR scheduler',
    'learning_rate_min_factor': 'LR scheduler',
    'epochs': 'trainer, LR scheduler',
    'batch_size': 'trainer, loss and LR scaling',
    'gradient_accumulation_steps': 'trainer, loss and LR scaling',
    'ema': 'trainer (EMA)',
    'ema_decay': 'trainer (EMA)',
    'ema_update_step_interval': 'trainer (EMA)',
    'dataloader_threads': 'data pipeline',
    'train_device': 'trainer',
    'temp_device': 'trainer (frozen text encoders parked there after caching)',
    'train_dtype': 'trainer (autocast)',
    'fallback_train_dtype': 'trainer (autocast)',
    'only_cache': 'trainer',
    'resolution': 'data pipeline, model spec',
    'mse_strength': 'loss',
    'mae_strength': 'loss',
    'log_cosh_strength': 'loss',
    'huber_strength': 'loss',
    'huber_delta': 'loss',
    'loss_weight_fn': 'loss',
    'loss_weight_strength': 'loss',
    'dropout_probability': 'adapters (LoRA/LoHa/LoKr/OFT dropout)',
    'loss_scaler': 'loss scaling',
    'learning_rate_scaler': 'LR scaling',
    'clip_grad_norm': 'trainer',
    'offset_noise_weight': 'training noise',
    'perturbation_noise_weight': 'training noise',
    'min_noising_strength': 'timestep sampler',
    'max_noising_strength': 'timestep sampler',
    'timestep_distribution': 'timestep sampler',
    'noising_weight': 'timestep sampler',
    'noising_bias': 'timestep sampler',
    'timestep_shift': 'timestep sampler',
    'masked_training': 'trainer, data pipeline, loss',
    'unmasked_weight': 'loss',
    'normalize_masked_area_loss': 'loss',
    'masked_prior_preservation_weight': 'trainer, loss',
    'layer_filter': 'method setup (trained/adapted layers)',
    'layer_filter_regex': 'method setup',
    'layer_filter_preset': 'the UI (preset that fills the layer filter)',
    'embedding_learning_rate': 'method setup (embedding groups)',
    'preserve_embedding_norm': 'method setup',
    'peft_type': 'adapters',
    'lora_model_name': 'trainer, method setup',
    'lora_rank': 'adapters',
    'lora_alpha': 'adapters',
    'lora_decompose': 'adapters (DoRA)',
    'lora_weight_dtype': 'adapters',
    'bundle_additional_embeddings': 'method setup (saving)',
    'oft_block_size': 'adapters',
    'oft_block_share': 'adapters',
    'oft_scaled': 'adapters',
    'lokr_dim': 'adapters',
    'lokr_decompose_both': 'adapters',
    'lokr_decompose_factor': 'adapters',
    'lokr_use_tucker': 'adapters',
    'sample_definition_file_name': 'sampling, workspace',
    'sample_after': 'trainer',
    'sample_after_unit': 'trainer',
    'sample_skip_first': 'trainer',
    'sample_image_format': 'sampling',
    'samples_to_tensorboard': 'sampling',
    'non_ema_sampling': 'trainer',
    'backup_after': 'trainer',
    'backup_after_unit': 'trainer',
    'rolling_backup': 'trainer',
    'rolling_backup_count': 'trainer',
    'backup_before_save': 'trainer, command line',
    'save_every': 'trainer',
    'save_every_unit': 'trainer',
    'save_skip_first': 'trainer',
    'save_filename_prefix': 'workspace',
    'embedding.uuid': 'method setup (backup file names)',
    'embedding.model_name': 'trainer, method setup',
    'embedding.placeholder': 'embeddings',
    'embedding.train': 'embeddings',
    'embedding.stop_training_after': 'method setup',
    'embedding.stop_training_after_unit': 'method setup',
    'embedding.token_count': 'embeddings',
    'embedding.initial_embedding_text': 'embeddings',
    'embedding.is_output_embedding': 'embeddings (output-space vectors), method setup',
    'secrets.huggingface_token': 'model sources (hub downloads)',
    'quantization.layer_filter': 'model loading (quantized layers)',
    'quantization.layer_filter_regex': 'model loading (quantized layers)',
    'quantization.layer_filter_preset': 'the UI (preset that fills the quantization layer filter)',
    # training on a Linux machine over SSH (modules/cloud)
    **{f'cloud.{name}': 'cloud training (SSH)' for name in (
        'enabled', 'type', 'remote_dir', 'huggingface_cache_dir', 'onetrainer_dir', 'install_cmd', 'install_onetrainer',
        'update_onetrainer', 'detach_trainer', 'run_id', 'download_samples', 'download_output_model', 'download_saves',
        'download_backups', 'download_tensorboard', 'delete_workspace')},
    'cloud.file_sync': 'cloud training (uploads with scp or SFTP)',
    'cloud.tensorboard_tunnel': "cloud training (the remote run's TensorBoard forwarded here)",
    **{f'secrets.cloud.{name}': 'cloud training (SSH login)' for name in ('host', 'port', 'user', 'key_file', 'password')},
    # a RunPod pod for the run (modules/cloud/pod_trainer.py)
    **{f'cloud.{name}': 'cloud training (RunPod pod)' for name in (
        'create', 'name', 'sub_type', 'gpu_type', 'volume_size', 'min_download', 'on_finish', 'on_error',
        'on_detached_finish', 'on_detached_error')},
    **{f'secrets.cloud.{name}': 'cloud training (RunPod API)' for name in ('api_key', 'id')},
}

# Settings that only the UI reads: they take effect there, not in a training run.
UI_ONLY: frozenset[str] = frozenset({'layer_filter_preset', 'quantization.layer_filter_preset'})

# ---- family-specific: a family reads them (FamilyFacts.reads) ----------------------------------
FAMILY_SPECIFIC: frozenset[str] = frozenset({
    'text_encoder_layer_skip', 'text_encoder_2_layer_skip', 'text_encoder_3_layer_skip', 'text_encoder_4_layer_skip',
    'text_encoder_sequence_length', 'text_encoder_2_sequence_length',
    'rescale_noise_scheduler_to_zero_terminal_snr', 'force_v_prediction', 'force_epsilon_prediction',
    'generalized_offset_noise', 'dynamic_timestep_shifting', 'vb_loss_strength',
    'frames', 'sample_video_format', 'sample_audio_format',
})

# ---- model parts ---------------------------------------------------------------------------------
Role = Literal['denoiser', 'text_encoder', 'frozen_text_encoder', 'vae', 'other']

# part sub-setting -> roles of the parts whose sub-setting the engine reads
PART_SETTINGS: dict[str, frozenset[str]] = {
    'train': frozenset({'denoiser', 'text_encoder'}),  # method setup (full weights or adapter)
    'stop_training_after': frozenset({'denoiser', 'text_encoder', 'vae'}),  # optimizer groups
    'stop_training_after_unit': frozenset({'denoiser', 'text_encoder', 'vae'}),
    'learning_rate': frozenset({'denoiser', 'text_encoder', 'vae'}),
    'weight_dtype': frozenset({'denoiser', 'text_encoder', 'frozen_text_encoder', 'vae', 'other'}),  # loading
    'dropout_probability': frozenset({'text_encoder', 'frozen_text_encoder'}),  # caption dropout
    'gradient_checkpointing': frozenset({'denoiser', 'text_encoder'}),
}
# part sub-settings that take effect only where a family's reads name `<part>.<sub-setting>`
PART_FAMILY_SETTINGS: frozenset[str] = frozenset({
    'model_name', 'include', 'train_embedding', 'attention_mask', 'guidance_scale',
})

# ---- not implemented yet: nothing reads them ------------------------------------------------------
NOT_IMPLEMENTED: dict[str, str] = {
    'debug_mode': 'debug output of the data pipeline and training steps',
    'debug_dir': 'debug output',
    'fused_gradient_reduce': 'multi-GPU training (gradients are reduced as one buffer per step)',
    'async_gradient_reduce': 'multi-GPU training',
    'async_gradient_reduce_buffer': 'multi-GPU training',
    'async_offloading': 'layer offloading',
    'force_circular_padding': 'circular padding of conv layers',
    'compile': 'torch.compile of transformer blocks',
    'enable_autocast_cache': 'the autocast weight cache switch',
    'attention_mechanism': 'choice of attention backend',
    'unmasked_probability': 'unmasked samples for mask-input models',
    'embedding_weight_dtype': 'embedding matrix data type',
    'lora_decompose_norm_epsilon': 'DoRA norm epsilon switch',
    'lora_decompose_output_axis': 'DoRA on the output axis',
    'lokr_weight_decompose': 'LoKr weight decomposition',
    'lokr_dora_on_output': 'LoKr weight decomposition',
    'lokr_full_matrix': 'LoKr full-matrix factor',
    'lokr_vec_trick': 'LoKr product without materialising it',
    'optimizer.beta1_warmup': 'no optimizer takes it',
    'optimizer.min_beta1': 'no optimizer takes it',
    **{f'quantization.{name}': 'quantization' for name in
       ('svd_dtype', 'svd_rank', 'cache_dir')},
}
PART_NOT_IMPLEMENTED: dict[str, str] = {
    'offload_fraction': 'layer offloading',
    'activation_offloading': 'activation offloading',
}

PART_NAMES: tuple[str, ...] = tuple(f.name for f in TrainConfig.FIELDS if f.type is TrainModelPartConfig)

_INDEX = re.compile(r'\[\d+\]')


@dataclass(frozen=True)
class Usage:
    """How one setting takes effect."""

    path: str
    kind: Kind
    note: str = ''  # what reads it (generic) or what it would do (not implemented)
    part: str | None = None  # for `<part>.<sub-setting>`
    roles: frozenset[str] = frozenset()  # part roles whose sub-setting the engine reads


def setting_paths() -> list[str]:
    """Every scalar and enum setting of TrainConfig, as dotted paths."""
    return list(_settings())


@cache
def _settings() -> dict[str, object]:
    config = TrainConfig.default_values()
    return {path: getattr(owner, f.name) for path, owner, f in config.iter_fields() if f.kind in ('scalar', 'enum')}


def default_value(path: str) -> object:
    """The value a new TrainConfig has at `path` (per-slot part defaults included)."""
    return _settings()[canonical(path)]


def canonical(path: str) -> str:
    """The table's name of a path: items of `additional_embeddings[i]` are classified as `embedding`."""
    if path.startswith('additional_embeddings['):
        return 'embedding' + _INDEX.sub('', path)[len('additional_embeddings'):]
    return path


@cache
def usage(path: str) -> Usage:
    """The class of the setting at `path` (KeyError for a path that is no scalar or enum setting)."""
    path = canonical(path)
    if path not in _settings():
        raise KeyError(path)
    if path in NOT_IMPLEMENTED:
        return Usage(path, 'not_implemented', NOT_IMPLEMENTED[path])
    head, _, sub = path.partition('.')
    if head in PART_NAMES:
        if sub in PART_NOT_IMPLEMENTED:
            return Usage(path, 'not_implemented', PART_NOT_IMPLEMENTED[sub], part=head)
        if sub in PART_FAMILY_SETTINGS:
            return Usage(path, 'family', part=head)
        return Usage(path, 'family', part=head, roles=PART_SETTINGS[sub])
    if path in GENERIC:
        return Usage(path, 'generic', GENERIC[path])
    if head == 'optimizer':
        return Usage(path, 'generic', 'optimizer construction')
    if path in FAMILY_SPECIFIC:
        return Usage(path, 'family')
    raise KeyError(f'{path} is not classified')  # the test keeps every setting classified


def classification() -> dict[Kind, list[str]]:
    """Every setting path by class (generic, family-specific, not implemented)."""
    result: dict[Kind, list[str]] = {'generic': [], 'family': [], 'not_implemented': []}
    for path in _settings():
        result[usage(path).kind].append(path)
    return result


def _role(part: str, facts: FamilyFacts) -> Role:
    if part == facts.denoiser:
        return 'denoiser'
    if part in facts.text_encoder_parts:
        # a text encoder the family never trains only encodes: its training settings do nothing
        return 'text_encoder' if facts.text_encoder(part).trainable else 'frozen_text_encoder'
    return 'vae' if part == 'vae' else 'other'


def takes_effect(path: str, facts: FamilyFacts) -> bool:
    """Whether the setting at `path` changes anything for a model type of this family."""
    u = usage(path)
    if u.kind == 'generic':
        return True
    if u.kind == 'not_implemented':
        return False
    if u.part is not None:
        if u.part not in facts.parts:
            return False
        if u.roles:
            return _role(u.part, facts) in u.roles
    return u.path in facts.reads



def _message(path: str, model_type, facts: FamilyFacts | None) -> str | None:
    u = usage(path)
    if u.kind == 'not_implemented':
        return NOT_IMPLEMENTED_MESSAGE
    if facts is None or takes_effect(path, facts):
        return None  # a model type without a family is refused as a whole
    return f'not used by {enum_label(model_type)}'


def setting_status(path: str, model_type) -> str | None:
    """Why the setting at `path` has no effect for `model_type` ("not used by …", "not implemented
    yet"), or None when it takes effect. Unknown paths (lists, nested configs) give None."""
    from modules.families.registry import facts_for

    try:
        usage(path)
    except KeyError:
        return None
    return _message(path, model_type, facts_for(model_type))


def differs_from_default(path: str, value: object) -> bool:
    default = default_value(path)
    return not (value == default and isinstance(value, bool) == isinstance(default, bool))


def _item_settings(config: TrainConfig):
    for i, item in enumerate(config.additional_embeddings or []):
        for f in item.FIELDS:
            if f.kind in ('scalar', 'enum'):
                yield f'additional_embeddings[{i}].{f.name}', getattr(item, f.name)


def setting_warnings(config: TrainConfig, facts: FamilyFacts | None) -> list[Problem]:
    """A warning for every setting changed from its default that would have no effect for the
    config's model type: "not used by <model type>" or "not implemented yet"."""
    problems = []
    values = [(path, getattr(owner, f.name)) for path, owner, f in config.iter_fields()
              if f.kind in ('scalar', 'enum')]
    for path, value in [*values, *_item_settings(config)]:
        try:
            message = _message(path, config.model_type, facts)
        except KeyError:
            continue
        if message is not None and differs_from_default(path, value):
            problems.append(Problem(path, message, 'warning'))
    return problems



def config_owner_path(root: BaseConfig, owner: BaseConfig) -> str | None:
    """The dotted path of the nested config `owner` inside `root` ('' for the root itself)."""
    if owner is root:
        return ''
    for f in root.FIELDS:
        if f.kind == 'config':
            child = getattr(root, f.name)
            found = config_owner_path(child, owner)
            if found is not None:
                return f'{f.name}.{found}' if found else f.name
        elif f.kind == 'config_list':
            for i, item in enumerate(getattr(root, f.name) or []):
                found = config_owner_path(item, owner)
                if found is not None:
                    return f'{f.name}[{i}].{found}' if found else f'{f.name}[{i}]'
    return None
