"""`modules.engine.check` refuses what no family can train, before anything loads."""
from __future__ import annotations

from modules.config.enums import ModelFormat, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig
from modules.engine import check


def _problems(**fields):
    cfg = TrainConfig.default_values()
    for key, value in fields.items():
        owner = cfg
        *path, leaf = key.split("__")
        for name in path:
            owner = getattr(owner, name)
        setattr(owner, leaf, value)
    return {p.path: p for p in check(cfg, paths=False)}


def test_a_model_type_without_a_family_is_refused(model_type_without_family):
    problem = _problems(model_type=model_type_without_family)["model_type"]
    assert problem.severity == "error" and "cannot be trained yet" in problem.message


def test_a_method_the_family_does_not_train_is_refused():
    problems = _problems(model_type=ModelType.STABLE_DIFFUSION_XL_10_BASE,
                         training_method=TrainingMethod.FINE_TUNE_VAE, output_model_format=ModelFormat.DIFFUSERS)
    assert problems["training_method"].severity == "error"


def test_dropping_the_only_text_encoder_is_refused_but_sdxl_may_drop_one():
    problem = _problems(model_type=ModelType.STABLE_DIFFUSION_15, text_encoder__include=False)["text_encoder.include"]
    assert problem.severity == "error" and "without this text encoder" in problem.message
    assert "text_encoder.include" not in _problems(model_type=ModelType.STABLE_DIFFUSION_XL_10_BASE,
                                                   text_encoder__include=False)


def test_a_default_sd_config_saved_as_diffusers_has_no_errors():
    assert not [p for p in _problems(output_model_format=ModelFormat.DIFFUSERS).values() if p.severity == "error"]
