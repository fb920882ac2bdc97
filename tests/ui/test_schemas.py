"""Model and Training tabs for every model type; search; changed-since-preset; help pages."""
from __future__ import annotations

import asyncio

import pytest
from nicegui.testing import User

from modules.config.enums import ModelType, PeftType, TrainingMethod
from modules.config.train_config import TrainConfig
from ot_nicegui import help_pages
from ot_nicegui.schemas.families import MODEL_TYPES
from ot_nicegui.schemas.search import build_index, search
from ot_nicegui.schemas.tabs import schema_for
from ot_nicegui.state.config_session import get_session

SCHEMA_TABS = ('general', 'model', 'data', 'training', 'backup', 'cloud', 'lora', 'embedding')


def test_every_model_type_has_a_profile() -> None:
    assert set(MODEL_TYPES) == set(ModelType)


@pytest.mark.parametrize('model_type', list(ModelType), ids=lambda m: m.name)
def test_schema_paths_resolve_and_choices_are_valid(model_type: ModelType) -> None:
    config = TrainConfig.default_values()
    config.model_type = model_type
    for method in model_type.supported_training_methods():
        config.training_method = method
        for tab in SCHEMA_TABS:
            for column in schema_for(tab, config)['columns']:
                for sec in column:
                    for fdef in sec.fields:
                        for path in fdef.paths:
                            owner, f = config.resolve(path)  # raises for a path that does not exist
                            if fdef.choices and path == fdef.path and f.kind == 'enum':
                                assert all(isinstance(c, f.type) for c in fdef.choices), path
    parts = set(model_type.model_parts())
    training = schema_for('training', config)
    used = {p.split('.')[0] for col in training['columns'] for s in col for fd in s.fields for p in fd.paths}
    assert model_type.denoising_model_part() in used
    assert not ({'unet', 'prior', 'transformer'} - parts) & used  # no section for a part the type lacks


async def test_tabs_render_for_every_model_type_and_method(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    user.find(marker='tab-training').click()
    user.find(marker='tab-model').click()
    for model_type in ModelType:
        cfg.model_type = model_type
        for method in model_type.supported_training_methods():
            cfg.training_method = method
            await user.should_see(marker=f'{model_type.denoising_model_part()}.weight_dtype')
            await user.should_see(marker='output_model_format')
            assert cfg.output_model_format in cfg.supported_output_formats()
    cfg.model_type, cfg.training_method = ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA
    user.find(marker='tab-lora').click()
    for peft in PeftType:
        cfg.peft_type = peft
        await user.should_see(marker='lora_model_name')


async def test_model_type_change_fixes_method_and_format(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    cfg.training_method = TrainingMethod.EMBEDDING
    cfg.model_type = ModelType.QWEN  # has no embedding training
    assert cfg.training_method == TrainingMethod.FINE_TUNE
    assert cfg.output_model_format in cfg.supported_output_formats()


async def test_layer_filter_preset_fills_the_patterns(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    cfg.model_type = ModelType.FLUX_DEV_1
    await asyncio.sleep(0.1)  # tabs are rebuilt right after the change
    user.find(marker='tab-training').click()
    user.find(marker='layer_filter_preset').click()
    user.find('attn-mlp').click()
    assert cfg.layer_filter == 'attn,ff.net,proj_mlp' and cfg.layer_filter_preset == 'attn-mlp'
    with user:
        user.find(marker='layer_filter_preset').elements.pop().set_value('custom')
    user.find(marker='layer_filter').clear().type('blocks.0')
    assert cfg.layer_filter == 'blocks.0' and cfg.layer_filter_preset == 'custom'


def test_search_finds_by_label_path_and_tooltip() -> None:
    config = TrainConfig.default_values()
    index = build_index(config, ['general', 'model', 'training', 'backup'])
    assert search(index, 'learning rate')[0].path == 'learning_rate'
    assert any(e.path == 'backup_after' for e in search(index, 'backup_after'))
    assert any(e.path == 'clip_grad_norm' for e in search(index, 'clipping'))
    assert search(index, 'no such setting at all') == []


async def test_search_jumps_to_the_field(user: User) -> None:
    await user.open('/')
    user.find(marker='settings-search').type('rolling backup count')
    await user.should_see(marker='search-hit-rolling_backup_count')
    user.find(marker='search-hit-rolling_backup_count').click()
    await user.should_see('Rolling backup count (rolling_backup_count)')
    from nicegui import ui
    from nicegui.element_filter import ElementFilter
    with user:
        tabs = next(iter(ElementFilter(kind=ui.tabs)))
        assert tabs.value == 'backup'


async def test_changed_since_preset_and_revert(user: User) -> None:
    await user.open('/')
    session = get_session()
    await user.should_see('No changes')
    session.config.epochs = 5
    session.config.text_encoder.learning_rate = 0.1
    await user.should_see('2 changes')
    user.find(marker='changes-button').click()
    await user.should_see(marker='change-epochs')
    user.find(marker='revert-epochs').click()
    assert session.config.epochs == 100
    await user.should_not_see(marker='change-epochs')
    assert [c.path for c in session.changes()] == ['text_encoder.learning_rate']


def test_help_pages_never_leave_the_docs_folder() -> None:
    pages = help_pages.list_pages()
    assert 'index' in pages
    for name in ('../README', '../../etc/passwd', '/etc/passwd', 'index.md', '..', ''):
        assert help_pages.read_page(name) is None
    assert help_pages.read_page('index')


async def test_help_tab_shows_pages(user: User) -> None:
    await user.open('/?tab=help&doc=quick-start')
    await user.should_see(marker='help-content')
    await user.should_see('Train a first LoRA')
    await user.open('/?tab=help&doc=../README')
    await user.should_see(marker='help-page-index')  # unknown page: falls back to the index
