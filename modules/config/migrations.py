"""Upgrades of older config dicts, one version step per function.

Each function takes the dict of version N and returns the dict of version N+1; `BaseConfig.migrate`
runs them in order. They follow OneTrainer's migrations step for step so that a file written by any
OneTrainer version loads with the same values. Where OneTrainer would crash on a key that is
missing, we treat the step as having nothing to do: a real file always has the key, and a hand
written one should still load.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

Migration = Callable[[dict], dict]

# Model-part slots touched by the later migrations, in OneTrainer's order.
_PART_SLOTS_V10 = (
    'unet', 'prior', 'transformer', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'text_encoder_4', 'vae',
    'effnet_encoder', 'decoder', 'decoder_text_encoder', 'decoder_vqgan',
)
_WUERSTCHEN_TYPES = ('WUERSTCHEN_2', 'STABLE_CASCADE_1')


def _rename(data: dict, renames: dict[str, str]) -> dict:
    return {renames.get(key, key): value for key, value in data.items()}


def train_0_to_1(data: dict) -> dict:
    """Flat `optimizer_*` keys move into an `optimizer` object; its values are remembered."""
    result: dict = {}
    optimizer: dict = {}
    for key, value in data.items():
        if key == 'optimizer':
            optimizer['optimizer'] = value
        elif key.startswith('optimizer'):
            optimizer[key.removeprefix('optimizer_')] = value
        else:
            result[key] = value
    result['optimizer'] = optimizer
    if 'optimizer' in optimizer:
        result['optimizer_defaults'] = {str(optimizer['optimizer']): copy.deepcopy(optimizer)}
    return result


def _part_keys_v1(part: str, with_training: bool, with_model_name: bool) -> dict[str, str]:
    """Old flat key -> field of the new part object."""
    keys = {f'{part}_weight_dtype': 'weight_dtype'}
    if with_model_name:
        keys[f'{part}_model_name'] = 'model_name'
    if with_training:
        keys[f'train_{part}'] = 'train'
        keys[f'train_{part}_epochs'] = 'stop_training_after'
        keys[f'{part}_learning_rate'] = 'learning_rate'
    return keys


_PARTS_V1 = {
    'unet': _part_keys_v1('unet', True, False),
    'prior': _part_keys_v1('prior', True, True),
    'text_encoder': _part_keys_v1('text_encoder', True, False),
    'text_encoder_2': _part_keys_v1('text_encoder_2', True, False),
    'vae': _part_keys_v1('vae', False, True),
    'effnet_encoder': _part_keys_v1('effnet_encoder', False, True),
    'decoder': _part_keys_v1('decoder', False, True),
    'decoder_text_encoder': _part_keys_v1('decoder_text_encoder', False, False),
    'decoder_vqgan': _part_keys_v1('decoder_vqgan', False, False),
}
_EMBEDDING_KEYS_V1 = ('embedding_model_names', 'token_count', 'initial_embedding_text')


def train_1_to_2(data: dict) -> dict:
    """Flat per-component keys move into part objects; embedding keys into an `embeddings` list."""
    moved = {old for keys in _PARTS_V1.values() for old in keys} | set(_EMBEDDING_KEYS_V1)
    result = {key: value for key, value in data.items() if key not in moved}
    for part, keys in _PARTS_V1.items():
        part_config: dict = {}
        for old, new in keys.items():
            if old in data:
                part_config[new] = data[old]
                if new == 'stop_training_after':
                    part_config['stop_training_after_unit'] = 'EPOCH'
        result[part] = part_config
    embedding: dict = {}
    names = data.get('embedding_model_names')
    if isinstance(names, list) and names:
        embedding['model_name'] = names[0]
    for key in ('token_count', 'initial_embedding_text'):
        if key in data:
            embedding[key] = data[key]
    # `embeddings` is not a field of later versions, so this information ends up unused (as in
    # OneTrainer), but it keeps the step faithful.
    result['embeddings'] = [embedding]
    return result


def train_2_to_3(data: dict) -> dict:
    """`min_snr_gamma` becomes a loss weight function; Würstchen models default to P2."""
    result = dict(data)
    gamma = result.pop('min_snr_gamma', 0)
    if gamma:
        result['loss_weight_fn'] = 'MIN_SNR_GAMMA'
        result['loss_weight_strength'] = gamma
    elif result.get('model_type', 'STABLE_DIFFUSION_15') in _WUERSTCHEN_TYPES:
        result['loss_weight_fn'] = 'P2'
        result['loss_weight_strength'] = 1.0
    return result


def train_3_to_4(data: dict) -> dict:
    """Noising weight/bias become a timestep distribution with centred parameters."""
    result = dict(data)
    weight = result.pop('noising_weight', 0.0)
    bias = result.pop('noising_bias', 0.5)
    if weight != 0:
        result['timestep_distribution'] = 'SIGMOID'
        result['noising_weight'] = weight
        result['noising_bias'] = bias - 0.5
    else:
        result['timestep_distribution'] = 'UNIFORM'
        result['noising_weight'] = 0.0
        result['noising_bias'] = 0.0
    return result


def train_4_to_5(data: dict) -> dict:
    """Boolean gradient checkpointing becomes "ON"/"OFF" (consumed by step 10 -> 11)."""
    result = dict(data)
    value = result.get('gradient_checkpointing', True)
    if isinstance(value, bool):
        result['gradient_checkpointing'] = 'ON' if value else 'OFF'
    return result


def train_5_to_6(data: dict) -> dict:
    return _rename(data, {'save_after': 'save_every', 'save_after_unit': 'save_every_unit'})


def train_6_to_7(data: dict) -> dict:
    result = dict(data)
    if 'lora_layer_preset' in result and result['lora_layer_preset'] is None:
        result['lora_layer_preset'] = 'full'
    return result


def train_7_to_8(data: dict) -> dict:
    return _rename(data, {
        'lora_layers': 'layer_filter',
        'lora_layer_preset': 'layer_filter_preset',
        'lora_layers_regex': 'layer_filter_regex',
    })


def train_8_to_9(data: dict) -> dict:
    """Transformer settings used to live under `prior`; copy them unless the model has a prior."""
    result = dict(data)
    model_type = result.get('model_type', 'STABLE_DIFFUSION_15')
    if model_type not in _WUERSTCHEN_TYPES and 'prior' in result:
        result['transformer'] = copy.deepcopy(result['prior'])
    return result


def train_9_to_10(data: dict) -> dict:
    """The global `weight_dtype` fills every part whose own dtype is NONE, then disappears."""
    result = dict(data)
    global_dtype = result.pop('weight_dtype', None)
    for slot in _PART_SLOTS_V10:
        part = result.get(slot)
        if isinstance(part, dict) and part.get('weight_dtype') == 'NONE' and global_dtype is not None:
            result[slot] = {**part, 'weight_dtype': global_dtype}
    return result


def train_10_to_11(data: dict) -> dict:
    """Global memory settings fan out per component; SAFETENSORS outputs get their legacy names."""
    result = dict(data)
    checkpointing = result.pop('gradient_checkpointing', 'ON')
    activation_offloading = result.pop('enable_activation_offloading', True)
    offload_fraction = result.pop('layer_offload_fraction', 0.0)
    if 'enable_async_offloading' in result:
        result['async_offloading'] = result.pop('enable_async_offloading')
    offloaded = checkpointing == 'CPU_OFFLOADED'
    for slot in _PART_SLOTS_V10:
        part = result.get(slot)
        if isinstance(part, dict):
            result[slot] = {
                **part,
                'gradient_checkpointing': checkpointing != 'OFF',
                'activation_offloading': offloaded and bool(activation_offloading),
                'offload_fraction': offload_fraction if offloaded else 0.0,
            }
    if result.get('output_model_format') == 'SAFETENSORS':
        method = result.get('training_method', 'FINE_TUNE')
        if method == 'LORA':
            result['output_model_format'] = 'LEGACY_LORA'
        elif method != 'EMBEDDING':
            result['output_model_format'] = 'LEGACY_SAFETENSORS'
    return result


TRAIN_MIGRATIONS: dict[int, Migration] = {
    0: train_0_to_1,
    1: train_1_to_2,
    2: train_2_to_3,
    3: train_3_to_4,
    4: train_4_to_5,
    5: train_5_to_6,
    6: train_6_to_7,
    7: train_7_to_8,
    8: train_8_to_9,
    9: train_9_to_10,
    10: train_10_to_11,
}


def concept_0_to_1(data: dict) -> dict:
    return _rename(data, {'repeats': 'balancing'})


def concept_1_to_2(data: dict) -> dict:
    """The boolean `validation_concept` becomes the concept `type`."""
    result = dict(data)
    if 'validation_concept' in result:
        result['type'] = 'VALIDATION' if result.pop('validation_concept') else 'STANDARD'
    return result


CONCEPT_MIGRATIONS: dict[int, Migration] = {0: concept_0_to_1, 1: concept_1_to_2}
