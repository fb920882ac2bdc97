"""Every migration step, fed with a dict of its own version, and whole chains from old versions."""
from __future__ import annotations

import pytest

from modules.config.base import ConfigError
from modules.config.concept_config import ConceptConfig
from modules.config.enums import (
    ConceptType,
    DataType,
    LossWeight,
    ModelFormat,
    Optimizer,
    TimestepDistribution,
    TimeUnit,
)
from modules.config.migrations import (
    train_0_to_1,
    train_1_to_2,
    train_2_to_3,
    train_3_to_4,
    train_4_to_5,
    train_5_to_6,
    train_6_to_7,
    train_7_to_8,
    train_8_to_9,
    train_9_to_10,
    train_10_to_11,
)
from modules.config.train_config import TrainConfig


def test_0_to_1_collects_optimizer_keys():
    out = train_0_to_1({'optimizer': 'ADAMW', 'optimizer_beta1': 0.8, 'optimizer_weight_decay': 0.1, 'epochs': 3})
    assert out['optimizer'] == {'optimizer': 'ADAMW', 'beta1': 0.8, 'weight_decay': 0.1}
    assert out['optimizer_defaults'] == {'ADAMW': {'optimizer': 'ADAMW', 'beta1': 0.8, 'weight_decay': 0.1}}
    assert out['optimizer_defaults']['ADAMW'] is not out['optimizer']
    assert out['epochs'] == 3 and 'optimizer_beta1' not in out


def test_0_to_1_without_optimizer_has_no_defaults():
    out = train_0_to_1({'optimizer_beta1': 0.8})
    assert out['optimizer'] == {'beta1': 0.8} and 'optimizer_defaults' not in out


def test_1_to_2_moves_part_keys():
    out = train_1_to_2({
        'train_unet': False, 'train_unet_epochs': 7, 'unet_learning_rate': 1e-5, 'unet_weight_dtype': 'FLOAT_16',
        'prior_model_name': 'p', 'train_text_encoder_2': True, 'text_encoder_2_learning_rate': 2e-6,
        'vae_model_name': 'v', 'vae_weight_dtype': 'FLOAT_32', 'decoder_vqgan_weight_dtype': 'BFLOAT_16',
        'effnet_encoder_model_name': 'e', 'embedding_model_names': ['emb.pt'], 'token_count': 3,
        'initial_embedding_text': 'cat', 'epochs': 5,
    })
    assert out['unet'] == {'train': False, 'stop_training_after': 7, 'stop_training_after_unit': 'EPOCH',
                           'learning_rate': 1e-5, 'weight_dtype': 'FLOAT_16'}
    assert out['prior'] == {'model_name': 'p'}
    assert out['text_encoder_2'] == {'train': True, 'learning_rate': 2e-6}
    assert out['vae'] == {'model_name': 'v', 'weight_dtype': 'FLOAT_32'}
    assert out['decoder_vqgan'] == {'weight_dtype': 'BFLOAT_16'}
    assert out['effnet_encoder'] == {'model_name': 'e'}
    assert out['text_encoder'] == {} and out['decoder'] == {} and out['decoder_text_encoder'] == {}
    assert out['embeddings'] == [{'model_name': 'emb.pt', 'token_count': 3, 'initial_embedding_text': 'cat'}]
    assert 'token_count' not in out and 'train_unet' not in out and out['epochs'] == 5


@pytest.mark.parametrize('data, fn, strength', [
    ({'min_snr_gamma': 5.0}, 'MIN_SNR_GAMMA', 5.0),
    ({'min_snr_gamma': 0, 'model_type': 'WUERSTCHEN_2'}, 'P2', 1.0),
    ({'model_type': 'STABLE_CASCADE_1'}, 'P2', 1.0),
    ({'min_snr_gamma': 0}, None, None),
])
def test_2_to_3_loss_weight(data, fn, strength):
    out = train_2_to_3(data)
    assert 'min_snr_gamma' not in out
    assert out.get('loss_weight_fn') == fn and out.get('loss_weight_strength') == strength


def test_3_to_4_noising():
    assert train_3_to_4({'noising_weight': 2.0, 'noising_bias': 0.75}) == {
        'timestep_distribution': 'SIGMOID', 'noising_weight': 2.0, 'noising_bias': 0.25}
    assert train_3_to_4({}) == {'timestep_distribution': 'UNIFORM', 'noising_weight': 0.0, 'noising_bias': 0.0}


def test_4_to_5_gradient_checkpointing_string():
    assert train_4_to_5({'gradient_checkpointing': False})['gradient_checkpointing'] == 'OFF'
    assert train_4_to_5({'gradient_checkpointing': True})['gradient_checkpointing'] == 'ON'
    assert train_4_to_5({})['gradient_checkpointing'] == 'ON'


def test_5_to_6_save_rename():
    assert train_5_to_6({'save_after': 3, 'save_after_unit': 'EPOCH'}) == {'save_every': 3, 'save_every_unit': 'EPOCH'}


def test_6_to_7_null_layer_preset():
    assert train_6_to_7({'lora_layer_preset': None}) == {'lora_layer_preset': 'full'}
    assert train_6_to_7({'lora_layer_preset': 'attn-only'}) == {'lora_layer_preset': 'attn-only'}
    assert train_6_to_7({}) == {}


def test_7_to_8_layer_filter_rename():
    out = train_7_to_8({'lora_layers': 'attn', 'lora_layer_preset': 'attn-only', 'lora_layers_regex': True})
    assert out == {'layer_filter': 'attn', 'layer_filter_preset': 'attn-only', 'layer_filter_regex': True}


def test_8_to_9_prior_becomes_transformer():
    out = train_8_to_9({'model_type': 'FLUX_DEV_1', 'prior': {'learning_rate': 1e-4}})
    assert out['transformer'] == {'learning_rate': 1e-4} and out['transformer'] is not out['prior']
    assert 'transformer' not in train_8_to_9({'model_type': 'STABLE_CASCADE_1', 'prior': {'train': True}})


def test_9_to_10_global_weight_dtype():
    out = train_9_to_10({'weight_dtype': 'BFLOAT_16', 'unet': {'weight_dtype': 'NONE'},
                         'vae': {'weight_dtype': 'FLOAT_32'}, 'text_encoder_4': {'weight_dtype': 'NONE'}})
    assert out == {'unet': {'weight_dtype': 'BFLOAT_16'}, 'vae': {'weight_dtype': 'FLOAT_32'},
                   'text_encoder_4': {'weight_dtype': 'BFLOAT_16'}}


@pytest.mark.parametrize('mode, expected', [
    ('OFF', (False, False, 0.0)),
    ('ON', (True, False, 0.0)),
    ('CPU_OFFLOADED', (True, True, 0.5)),
])
def test_10_to_11_memory_settings(mode, expected):
    out = train_10_to_11({'gradient_checkpointing': mode, 'enable_activation_offloading': True,
                          'layer_offload_fraction': 0.5, 'enable_async_offloading': False,
                          'unet': {}, 'text_encoder': {'train': True}})
    for part in ('unet', 'text_encoder'):
        got = out[part]
        assert (got['gradient_checkpointing'], got['activation_offloading'], got['offload_fraction']) == expected
    assert out['async_offloading'] is False
    for key in ('gradient_checkpointing', 'enable_activation_offloading', 'layer_offload_fraction',
                'enable_async_offloading'):
        assert key not in out
    assert out['text_encoder']['train'] is True


@pytest.mark.parametrize('method, before, after', [
    ('LORA', 'SAFETENSORS', 'LEGACY_LORA'),
    ('FINE_TUNE', 'SAFETENSORS', 'LEGACY_SAFETENSORS'),
    ('FINE_TUNE_VAE', 'SAFETENSORS', 'LEGACY_SAFETENSORS'),
    ('EMBEDDING', 'SAFETENSORS', 'SAFETENSORS'),
    ('LORA', 'DIFFUSERS', 'DIFFUSERS'),
])
def test_10_to_11_output_format(method, before, after):
    assert train_10_to_11({'training_method': method, 'output_model_format': before})['output_model_format'] == after


def test_v0_config_migrates_to_v11():
    v0 = {
        'model_type': 'STABLE_DIFFUSION_15', 'training_method': 'LORA', 'optimizer': 'ADAMW',
        'optimizer_beta1': 0.85, 'optimizer_weight_decay': 0.05, 'train_unet': True, 'train_unet_epochs': 50,
        'unet_learning_rate': 1e-4, 'unet_weight_dtype': 'NONE', 'train_text_encoder': False,
        'text_encoder_weight_dtype': 'NONE', 'vae_weight_dtype': 'FLOAT_32', 'weight_dtype': 'FLOAT_16',
        'min_snr_gamma': 5.0, 'noising_weight': 1.0, 'noising_bias': 0.7, 'gradient_checkpointing': False,
        'save_after': 2, 'save_after_unit': 'EPOCH', 'lora_layer_preset': None, 'lora_layers': 'attn',
        'output_model_format': 'SAFETENSORS', 'prior': {}, 'epochs': 12,
    }
    config = TrainConfig.default_values().from_dict(v0)
    assert config.optimizer.optimizer == Optimizer.ADAMW and config.optimizer.beta1 == 0.85
    assert config.optimizer_defaults['ADAMW'].weight_decay == 0.05
    assert config.unet.stop_training_after == 50 and config.unet.stop_training_after_unit == TimeUnit.EPOCH
    assert config.unet.learning_rate == 1e-4
    assert config.unet.weight_dtype == DataType.FLOAT_16 and config.text_encoder.weight_dtype == DataType.FLOAT_16
    assert config.vae.weight_dtype == DataType.FLOAT_32
    assert config.text_encoder.train is False
    assert config.loss_weight_fn == LossWeight.MIN_SNR_GAMMA and config.loss_weight_strength == 5.0
    assert config.timestep_distribution == TimestepDistribution.SIGMOID
    assert config.noising_weight == 1.0 and config.noising_bias == pytest.approx(0.2)
    assert config.unet.gradient_checkpointing is False and config.vae.gradient_checkpointing is False
    assert config.save_every == 2 and config.save_every_unit == TimeUnit.EPOCH
    assert config.layer_filter == 'attn' and config.layer_filter_preset == 'full'
    assert config.output_model_format == ModelFormat.LEGACY_LORA
    assert config.epochs == 12
    assert config.to_dict()['__version'] == 11


def test_full_v11_config_is_not_changed_by_loading():
    config = TrainConfig.default_values()
    config.learning_rate = 0.5
    config.secrets.cloud.port = '22'
    assert TrainConfig.default_values().from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_removed_enum_value_falls_back_with_a_warning():
    warnings = []
    config = TrainConfig.default_values().from_dict(
        {'__version': 10, 'output_model_format': 'CKPT', 'training_method': 'FINE_TUNE'}, warnings=warnings)
    assert config.output_model_format == ModelFormat.SAFETENSORS
    assert [w.path for w in warnings] == ['output_model_format']


def test_newer_version_is_refused():
    with pytest.raises(ConfigError) as info:
        TrainConfig.default_values().from_dict({'__version': 12})
    assert info.value.path == '__version'


def test_concept_migrations():
    concept = ConceptConfig.default_values().from_dict({'repeats': 3.0, 'validation_concept': True})
    assert concept.balancing == 3.0 and concept.type == ConceptType.VALIDATION
    concept = ConceptConfig.default_values().from_dict({'__version': 1, 'validation_concept': False, 'balancing': 2})
    assert concept.type == ConceptType.STANDARD and concept.balancing == 2
    assert ConceptConfig.default_values().from_dict({'__version': 2, 'repeats': 9}).balancing == 1.0


def test_historic_preset(reference_dir):
    import json

    data = json.loads((reference_dir / 'historic' / 'sd15_lora_preset_2024-early.json').read_text())
    config = TrainConfig.default_values().from_dict(data)
    assert config.output_model_format == ModelFormat.LEGACY_LORA
    assert config.unet.stop_training_after == 100000 and config.unet.stop_training_after_unit == TimeUnit.EPOCH
    assert config.text_encoder.stop_training_after == 30
    assert config.vae.weight_dtype == DataType.FLOAT_32
    assert config.learning_rate == 0.0003 and config.batch_size == 4
