"""A changed setting that would do nothing carries a warning; untrainable model types are marked."""
from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from modules.config.enums import ModelType
from modules.config.train_config import TrainConfig
from modules.families.registry import facts_for
from ot_nicegui.state.config_session import get_session
from ot_nicegui.widgets.fields import NOT_TRAINABLE_SUFFIX, field_input


async def test_warning_appears_when_changed_and_goes_when_reverted(user: User) -> None:
    await user.open('/')
    config = get_session().config
    await user.should_see(marker='debug_dir')
    await user.should_not_see(marker='setting-warning-debug_dir')
    user.find(marker='debug_dir').clear().type('my-debug')
    assert config.debug_dir == 'my-debug'
    await user.should_see(marker='setting-warning-debug_dir')
    await user.should_see('not implemented yet')
    user.find(marker='debug_dir').clear().type('debug')  # back to the default
    await user.should_not_see(marker='setting-warning-debug_dir')


async def test_a_change_made_elsewhere_shows_the_warning(user: User) -> None:
    await user.open('/')
    config = get_session().config
    await user.should_see(marker='debug_dir')
    await user.should_not_see(marker='setting-warning-debug_dir')
    config.debug_dir = 'changed-elsewhere'  # not through the widget
    await user.should_see(marker='setting-warning-debug_dir')
    config.debug_dir = TrainConfig.get_field('debug_dir').default
    await user.should_not_see(marker='setting-warning-debug_dir')


async def test_settings_that_take_effect_never_warn(user: User) -> None:
    await user.open('/')
    user.find(marker='tab-training').click()
    user.find(marker='learning_rate').clear().type('0.001')
    assert get_session().config.learning_rate == 0.001
    await user.should_see(marker='learning_rate')
    await user.should_not_see(marker='setting-warning')


async def test_warning_follows_the_model_type(user: User) -> None:
    config = TrainConfig.default_values()
    config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    config.text_encoder_2.train = False

    @ui.page('/probe')
    def probe() -> None:
        field_input(config, 'model_type').mark('probe-model-type')
        field_input(config.text_encoder_2, 'train').mark('probe-te2-train')
        field_input(config, 'text_encoder_2_layer_skip').mark('probe-te2-skip')

    await user.open('/probe')
    await user.should_see(marker='probe-te2-train')
    await user.should_not_see(marker='setting-warning')  # SDXL has a second text encoder
    config.model_type = ModelType.STABLE_DIFFUSION_15
    await user.should_see(marker='setting-warning-text_encoder_2.train')
    await user.should_see('not used by SD 1.5')
    await user.should_not_see(marker='setting-warning-text_encoder_2_layer_skip')  # still the default
    config.text_encoder_2_layer_skip = 2
    await user.should_see(marker='setting-warning-text_encoder_2_layer_skip')
    config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    await user.should_not_see(marker='setting-warning')


async def test_model_type_selector_marks_types_that_cannot_train(user: User, model_type_without_family) -> None:
    await user.open('/')
    with user:
        select = next(iter(user.find(marker='model_type').elements))
    options = select.options
    assert options[ModelType.STABLE_DIFFUSION_15] == 'SD 1.5'
    assert options[ModelType.STABLE_DIFFUSION_XL_10_BASE] == 'SDXL 1.0 Base'
    untrainable = [m for m in ModelType if options[m].endswith(NOT_TRAINABLE_SUFFIX)]
    assert untrainable and untrainable == [m for m in ModelType if facts_for(m) is None]
    assert ModelType.STABLE_DIFFUSION_15 not in untrainable
    get_session().config.model_type = untrainable[0]
    await user.should_see(options[untrainable[0]])
