"""Switching the model type offers that type's usual base model when the current one is another type's."""
from __future__ import annotations

from pathlib import Path

from nicegui.testing import User

from modules.config.enums import ModelType
from ot_nicegui.state.config_session import get_session
from ot_nicegui.state.default_models import default_base_model, offer_for

PRESETS = Path(__file__).resolve().parents[2] / 'training_presets'


def test_the_presets_name_each_type_its_base_model() -> None:
    assert default_base_model(ModelType.STABLE_DIFFUSION_XL_10_BASE, PRESETS) == 'stabilityai/stable-diffusion-xl-base-1.0'
    assert default_base_model(ModelType.FLUX_DEV_1, PRESETS) == 'black-forest-labs/FLUX.1-dev'
    sdxl = ModelType.STABLE_DIFFUSION_XL_10_BASE
    assert offer_for('black-forest-labs/FLUX.1-dev', sdxl, PRESETS) == 'stabilityai/stable-diffusion-xl-base-1.0'
    assert offer_for('', sdxl, PRESETS) == 'stabilityai/stable-diffusion-xl-base-1.0'
    assert offer_for('/my/models/merged-sdxl', sdxl, PRESETS) is None  # the user's own model stays
    assert offer_for('stabilityai/stable-diffusion-xl-base-1.0', sdxl, PRESETS) is None


async def test_switching_offers_the_base_model_and_replaces_it_only_on_request(user: User) -> None:
    await user.open('/')
    config = get_session().config
    config.model_type = ModelType.FLUX_DEV_1
    config.base_model_name = 'black-forest-labs/FLUX.1-dev'
    config.model_type = ModelType.STABLE_DIFFUSION_XL_10_BASE
    await user.should_see('"black-forest-labs/FLUX.1-dev" is not a SDXL 1.0 Base model. '
                          'Use "stabilityai/stable-diffusion-xl-base-1.0"?')
    assert config.base_model_name == 'black-forest-labs/FLUX.1-dev'  # nothing changes without a click
    user.find(marker='base-model-use').click()
    assert config.base_model_name == 'stabilityai/stable-diffusion-xl-base-1.0'
    await user.should_not_see(marker='base-model-offer')

    config.base_model_name = '/my/models/merged'
    config.model_type = ModelType.FLUX_DEV_1
    await user.should_not_see(marker='base-model-offer')
