"""The settings audit agrees with the backend source, and its warnings name every ignored change."""
from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from ot_test_paths import REPO_ROOT

from modules import settings_usage as su
from modules.config.enums import AttentionMechanism, ModelType, TrainingMethod
from modules.config.train_config import TrainConfig, TrainEmbeddingConfig, TrainModelPartConfig
from modules.families.registry import all_facts, facts_for

# Config declarations, migrations and presets name every field without reading it; the facts files
# list family reads; the audit itself names everything. None of them counts as a reader.
_DECLARATIONS = {'base', 'enums', 'migrations', 'presets', 'optimizer_defaults', 'layer_presets', 'train_config',
                 'cloud_config', 'concept_config', 'sample_config', 'secrets_config'}
# Places that consult a not-implemented setting only to say that it is unavailable.
_UNAVAILABLE_NOTICES = {
    ('multi_gpu', 'modules/engine.py'), ('cloud.enabled', 'modules/engine.py'),
    ('multi_gpu', 'modules/train/trainer.py'), ('cloud.enabled', 'modules/train/trainer.py'),
}
# Cloud settings named like everyday attributes (`.name`, `.type`, `.enabled`, `on_error` ...) are
# searched for only together with their owner.
_EVERYDAY_NAMES = {'enabled', 'type', 'name', 'on_error', 'on_finish', 'id', 'host', 'port', 'user', 'password',
                   'create'}


def _is_backend_reader(path: Path) -> bool:
    rel = path.relative_to(REPO_ROOT)
    if rel.parts[:2] == ('modules', 'config') and path.stem in _DECLARATIONS:
        return False
    return path.name not in ('settings_usage.py', 'facts.py')


@cache
def backend_sources() -> dict[str, str]:
    files = sorted((REPO_ROOT / 'modules').rglob('*.py'))
    return {str(p.relative_to(REPO_ROOT)): p.read_text() for p in files if _is_backend_reader(p)}


@cache
def ui_sources() -> dict[str, str]:
    """UI code that reads settings (schemas and the field factory only list or render them)."""
    root = REPO_ROOT / 'ot_nicegui'
    return {str(p.relative_to(REPO_ROOT)): p.read_text() for p in sorted(root.rglob('*.py'))
            if 'schemas' not in p.parts and p.name != 'fields.py'}


_CONFIG = r'\w*(?:config|cfg)'  # config, cfg, train_config, part_cfg, optimizer_config ...


def _reference(leaf: str) -> re.Pattern:
    """Attribute access `.leaf` or the string "leaf" (getattr, dict keys)."""
    return re.compile(rf'\.{re.escape(leaf)}\b|[\'"]{re.escape(leaf)}[\'"]')


def _owned(owner: str, leaf: str) -> list[re.Pattern]:
    """`owner.leaf` or `getattr(... owner ..., "leaf")`."""
    return [re.compile(rf'\b{owner}\.{leaf}\b'), re.compile(rf'getattr\([^\n]*\b{owner}\b[^\n]*[\'"]{leaf}[\'"]')]


def _read_patterns(path: str) -> list[re.Pattern]:
    """How code reads a setting: a top-level one through a config object, a nested one by its name."""
    if '.' not in path:
        return _owned(_CONFIG, path)
    return [_reference(_leaf(path))]


def _is_read(path: str, sources: dict[str, str]) -> bool:
    return any(_readers(p, sources) for p in _read_patterns(path))


def _readers(pattern: re.Pattern, sources: dict[str, str]) -> list[str]:
    return [name for name, text in sources.items() if pattern.search(text)]


def _leaf(path: str) -> str:
    return path.rsplit('.', 1)[-1]


# ---- the table covers every setting, and only settings ---------------------------------------------
def test_every_setting_is_classified_exactly_once() -> None:
    paths = su.setting_paths()
    assert len(paths) > 400  # parts, optimizer, cloud and the rest are all enumerated
    classes = su.classification()
    assert sorted(p for group in classes.values() for p in group) == sorted(paths)
    assert set(su.GENERIC) <= set(paths) and set(su.NOT_IMPLEMENTED) <= set(paths)
    assert su.FAMILY_SPECIFIC <= set(paths)
    assert not set(su.GENERIC) & set(su.NOT_IMPLEMENTED)
    part_subsettings = set(su.PART_SETTINGS) | su.PART_FAMILY_SETTINGS | set(su.PART_NOT_IMPLEMENTED)
    assert part_subsettings == {f.name for f in TrainModelPartConfig.FIELDS}


def test_family_reads_name_family_specific_settings() -> None:
    for facts in all_facts():
        for path in facts.reads:
            assert su.usage(path).kind == 'family', f'{facts.name} reads {path}, which is not family-specific'


# ---- the table agrees with the code -----------------------------------------------------------------
def _generic_paths() -> list[str]:
    return [p for p in su.classification()['generic'] if not p.startswith('optimizer.') and p not in su.UI_ONLY]


@pytest.mark.parametrize('path', _generic_paths())
def test_generic_setting_is_read_by_the_backend(path: str) -> None:
    assert _is_read(path, backend_sources()), f'{path} is classified generic, nothing reads it'


@pytest.mark.parametrize('path', sorted(su.UI_ONLY))
def test_ui_only_setting_is_read_by_the_ui(path: str) -> None:
    assert _readers(_reference(_leaf(path)), ui_sources()), f'{path} is classified as read by the UI; it is not'


@pytest.mark.parametrize('path', [p for p in su.classification()['generic'] if p.startswith('optimizer.')])
def test_optimizer_setting_is_wired_to_an_optimizer(path: str) -> None:
    # the recipes name fields inside wiring strings ("beta1?0.9", "ams_bound<-amsgrad?False")
    optim = {k: v for k, v in backend_sources().items() if k.startswith('modules/optim/')}
    leaf = re.escape(_leaf(path))
    wired = re.compile(rf'\b{leaf}\?|<-{leaf}\b|={leaf}\b|\.{leaf}\b|[\'"]{leaf}[\'"]')
    assert _readers(wired, optim), f'no optimizer reads {path}'


@pytest.mark.parametrize('path', sorted({p for f in all_facts() for p in f.reads}))
def test_setting_a_family_reads_is_in_the_code(path: str) -> None:
    assert _is_read(path, backend_sources()), f'a family lists {path} as read; no code reads it'


@pytest.mark.parametrize('sub', sorted(su.PART_SETTINGS))
def test_part_setting_is_read_by_the_engine(sub: str) -> None:
    assert _readers(_reference(sub), backend_sources()), f'part setting {sub} is read by nothing'


def _unread_patterns(path: str) -> list[re.Pattern]:
    *owners, leaf = path.split('.')
    patterns = _owned(owners[-1] if owners else _CONFIG, leaf)
    effective = {_leaf(p) for kind in ('generic', 'family') for p in su.classification()[kind]}
    if leaf not in effective and leaf not in _EVERYDAY_NAMES:
        patterns.append(_reference(leaf))  # a name of its own: any mention counts
    return patterns


def _not_implemented_paths() -> list[str]:
    paths = set(su.classification()['not_implemented'])
    # part slots share their sub-setting names: one slot stands for all
    return sorted(p for p in paths if p.partition('.')[0] not in su.PART_NAMES or p.startswith('unet.'))


@pytest.mark.parametrize('path', _not_implemented_paths())
def test_not_implemented_setting_is_read_by_nothing(path: str) -> None:
    readers = {name for pattern in _unread_patterns(path) for name in _readers(pattern, backend_sources())}
    readers -= {name for p, name in _UNAVAILABLE_NOTICES if p == path}
    assert not readers, f'{path} is classified "not implemented" but {sorted(readers)} read it: reclassify it'


def test_the_source_scan_finds_what_it_looks_for() -> None:
    # the patterns themselves: a reader is found, an unrelated word is not
    sources = {'a.py': 'x = cfg.latent_caching\ny = getattr(getattr(config, "cloud", None), "volume_size", 1)\n'
                       'z = re.compile("a")\n'}
    assert _is_read('latent_caching', sources)
    assert not _is_read('dataloader_threads', sources)
    assert not _is_read('compile', sources)  # re.compile is no read of the setting
    assert any(_readers(p, sources) for p in _unread_patterns('cloud.volume_size'))
    assert not any(_readers(p, sources) for p in _unread_patterns('compile'))


# ---- warnings ----------------------------------------------------------------------------------------
def _config(model_type: ModelType = ModelType.STABLE_DIFFUSION_15) -> TrainConfig:
    config = TrainConfig.default_values()
    config.model_type = model_type
    return config


def _warnings(config: TrainConfig) -> dict[str, str]:
    problems = su.setting_warnings(config, facts_for(config.model_type))
    assert all(p.severity == 'warning' for p in problems)
    return {p.path: p.message for p in problems}


@pytest.mark.parametrize('model_type', [ModelType.STABLE_DIFFUSION_15, ModelType.STABLE_DIFFUSION_XL_10_BASE,
                                        ModelType.STABLE_DIFFUSION_20_INPAINTING])
def test_defaults_give_no_warning(model_type: ModelType) -> None:
    assert _warnings(_config(model_type)) == {}


def test_changed_settings_that_do_nothing_are_named() -> None:
    config = _config()
    config.debug_dir = 'my-debug'
    config.quantization.svd_rank = 32
    config.text_encoder_2.train = False
    config.text_encoder_2_layer_skip = 2
    config.attention_mechanism = AttentionMechanism.FLASH
    config.unet.offload_fraction = 0.5
    assert _warnings(config) == {
        'debug_dir': 'not implemented yet',
        'quantization.svd_rank': 'not implemented yet',
        'text_encoder_2.train': 'not used by SD 1.5',
        'text_encoder_2_layer_skip': 'not used by SD 1.5',
        'attention_mechanism': 'not implemented yet',
        'unet.offload_fraction': 'not implemented yet',
    }


def test_changed_settings_the_family_reads_give_no_warning() -> None:
    sd = _config()
    sd.force_v_prediction = True
    sd.text_encoder_layer_skip = 1
    sd.vae.model_name = 'some/vae'
    sd.unet.learning_rate = 1e-5
    sd.text_encoder.dropout_probability = 0.1
    sd.learning_rate = 1e-4
    sd.optimizer.beta1 = 0.8
    assert _warnings(sd) == {}
    sdxl = _config(ModelType.STABLE_DIFFUSION_XL_10_BASE)
    sdxl.text_encoder_2.train = False
    sdxl.text_encoder_2_layer_skip = 2
    sdxl.text_encoder_2.train_embedding = False
    assert _warnings(sdxl) == {}


def test_part_settings_follow_the_part_role() -> None:
    config = _config()
    config.vae.gradient_checkpointing = False  # read for the denoiser and text encoders only
    config.text_encoder.train_embedding = False  # only families with several text encoders choose
    config.unet.dropout_probability = 0.2  # caption dropout is a text-encoder setting
    config.prior.train = False  # SD has no prior
    assert _warnings(config) == {p: 'not used by SD 1.5' for p in (
        'vae.gradient_checkpointing', 'text_encoder.train_embedding', 'unet.dropout_probability', 'prior.train')}


def test_additional_embeddings_are_checked_item_by_item(monkeypatch) -> None:
    config = _config()
    extra = TrainEmbeddingConfig.default_values()
    extra.is_output_embedding = True
    config.additional_embeddings = [TrainEmbeddingConfig.default_values(), extra]
    assert _warnings(config) == {}  # output embeddings are read
    # an item setting nothing reads would be named with its item's index
    monkeypatch.setitem(su.NOT_IMPLEMENTED, 'embedding.is_output_embedding', 'output embeddings')
    su.usage.cache_clear()
    try:
        assert _warnings(config) == {'additional_embeddings[1].is_output_embedding': 'not implemented yet'}
    finally:
        su.usage.cache_clear()


def test_check_at_start_includes_the_warnings() -> None:
    from modules.engine import check

    config = _config()
    config.training_method = TrainingMethod.LORA
    config.debug_dir = 'my-debug'
    config.text_encoder_2.learning_rate = 1e-4
    found = {(p.path, p.message, p.severity) for p in check(config, paths=False)}
    assert ('debug_dir', 'not implemented yet', 'warning') in found
    assert ('text_encoder_2.learning_rate', 'not used by SD 1.5', 'warning') in found


def test_setting_status_answers_per_model_type(model_type_without_family) -> None:
    sd, sdxl = ModelType.STABLE_DIFFUSION_15, ModelType.STABLE_DIFFUSION_XL_10_BASE
    flux = ModelType.FLUX_DEV_1
    without_family = model_type_without_family
    assert facts_for(without_family) is None
    assert su.setting_status('text_encoder_2.train', sd) == 'not used by SD 1.5'
    assert su.setting_status('text_encoder_2.train', sdxl) is None
    assert su.setting_status('debug_dir', sdxl) == 'not implemented yet'
    assert su.setting_status('learning_rate', sd) is None
    assert su.setting_status('dynamic_timestep_shifting', sdxl) == 'not used by SDXL 1.0 Base'
    # a model type without a family is refused as a whole; its settings are not judged one by one
    assert su.setting_status('transformer.guidance_scale', without_family) is None
    assert su.setting_status('compile', without_family) == 'not implemented yet'
    assert su.setting_status('transformer.guidance_scale', flux) is None  # Flux reads it
    assert su.setting_status('transformer.guidance_scale', sdxl) == 'not used by SDXL 1.0 Base'
    assert su.setting_status('concepts', sd) is None  # not a single setting


def test_the_audit_loads_without_torch() -> None:
    code = ('import sys; import modules.settings_usage as su; '
            'su.setting_status("cloud.enabled", "STABLE_DIFFUSION_15"); '
            'assert "torch" not in sys.modules, "torch was imported"')
    subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, check=True)
