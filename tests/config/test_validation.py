"""Validation reports every problem, each with its field and a reason."""
from __future__ import annotations

import json

from modules.config.concept_config import ConceptConfig
from modules.config.enums import LossWeight, ModelFormat, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig
from modules.config.validation import errors, validate


def _valid_config(tmp_path) -> TrainConfig:
    model = tmp_path / 'model'
    model.mkdir()
    images = tmp_path / 'images'
    images.mkdir()
    config = TrainConfig.default_values()
    config.base_model_name = str(model)
    config.training_method = TrainingMethod.LORA
    config.output_model_format = ModelFormat.KOHYA_LORA
    concept = ConceptConfig.default_values()
    concept.path = str(images)
    config.concepts = [concept]
    config.samples = []
    return config


def _paths(problems):
    return {p.path for p in errors(problems)}


def test_valid_config_has_no_errors(tmp_path):
    assert errors(validate(_valid_config(tmp_path))) == []


def test_every_bad_field_is_reported_at_once(tmp_path):
    config = _valid_config(tmp_path)
    config.learning_rate = 'fast'
    config.batch_size = 0
    config.epochs = None
    config.optimizer.beta1 = 'x'
    config.unet.train = 'yes'
    config.ema_decay = 1.5
    config.resolution = '512 by 512'
    config.concepts[0].image.enable_random_flip = 3
    problems = validate(config)
    assert {'learning_rate', 'batch_size', 'epochs', 'optimizer.beta1', 'unet.train', 'ema_decay', 'resolution',
            'concepts[0].image.enable_random_flip'} <= _paths(problems)
    assert all(p.message for p in problems)


def test_incompatible_combinations(tmp_path):
    config = _valid_config(tmp_path)
    config.output_model_format = ModelFormat.DIFFUSERS  # a LoRA cannot be written as a full model
    config.model_type = ModelType.FLUX_DEV_1
    config.loss_weight_fn = LossWeight.MIN_SNR_GAMMA
    config.layer_filter_regex = True
    config.layer_filter = 'attn(,ok'
    problems = validate(config)
    assert {'output_model_format', 'loss_weight_fn', 'layer_filter'} <= _paths(problems)
    config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    config.training_method = TrainingMethod.FINE_TUNE_VAE
    assert 'training_method' in _paths(validate(config))


def test_missing_paths(tmp_path):
    config = _valid_config(tmp_path)
    config.base_model_name = str(tmp_path / 'nope')
    config.concepts[0].path = str(tmp_path / 'missing-images')
    config.concepts[0].text.prompt_source = 'concept'
    config.concepts[0].text.prompt_path = str(tmp_path / 'prompts.txt')
    config.lora_model_name = 'relative/missing.safetensors'
    problems = validate(config)
    assert {'base_model_name', 'concepts[0].path', 'concepts[0].text.prompt_path', 'lora_model_name'} <= _paths(problems)
    assert errors(validate(config, paths=False)) == []


def test_hub_names_and_offline_mode(tmp_path):
    config = _valid_config(tmp_path)
    config.base_model_name = 'some-org/some-model'
    assert 'base_model_name' not in _paths(validate(config))
    config.offline_mode = True
    assert 'base_model_name' in _paths(validate(config))


def test_concept_file_read_when_not_inline(tmp_path):
    config = _valid_config(tmp_path)
    config.concepts = None
    config.concept_file_name = str(tmp_path / 'concepts.json')
    assert 'concept_file_name' in _paths(validate(config))
    (tmp_path / 'concepts.json').write_text(json.dumps([{'path': str(tmp_path / 'images')}]))
    assert errors(validate(config)) == []


def test_missing_sample_file_is_only_a_warning(tmp_path):
    config = _valid_config(tmp_path)
    config.samples = None
    config.sample_definition_file_name = str(tmp_path / 'no-samples.json')
    problems = validate(config)
    assert errors(problems) == [] and any(p.path == 'sample_definition_file_name' for p in problems)
