"""What the UI says when something goes wrong: plain words in toasts and status lines, "offline
mode is on" only when it is, the GPU message, and problems at Start named by their label with a
way to the field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.element_filter import ElementFilter
from nicegui.testing import User

from modules.config.train_config import TrainConfig
from ot_nicegui.messages import plain_error
from ot_nicegui.state.config_session import get_session


@pytest.mark.parametrize(('error', 'text'), [
    ('OSError: no such model', 'no such model'),
    (ValueError('loss is nan'), 'loss is nan'),
    (PermissionError(13, 'Permission denied', '/srv/ot/data/training_presets/user/a.json'),
     'Permission denied: "a.json"'),
    ('RuntimeError: FileNotFoundError: could not load "/home/me/models/sd15" (config)', 'could not load "sd15" (config)'),
    ('STABLE_DIFFUSION_15 cannot use Optimizer.ADAMW_8BIT here', 'SD 1.5 cannot use AdamW 8-bit here'),
    ('see https://huggingface.co/org/model for details', 'see https://huggingface.co/org/model for details'),
    (KeyError('unet'), 'unet is missing'),
    (ValueError(), 'an unexpected error (Details has more)'),
])
def test_plain_error(error, text) -> None:
    assert plain_error(error) == text


def test_a_failed_run_is_described_without_the_exception_type() -> None:
    from ot_nicegui.state.training_session import _describe

    assert _describe(FileNotFoundError('could not load "/srv/models/x": gone')) == 'could not load "x": gone'


@pytest.mark.parametrize(('offline_mode', 'env_offline', 'expected', 'not_expected'), [
    (False, False, 'could not be reached', 'offline mode is on'),
    (True, False, 'offline mode is on', 'could not be reached'),
    (False, True, 'HF_HUB_OFFLINE', 'offline mode is on'),
])
def test_offline_mode_is_named_only_when_it_is_on(monkeypatch, offline_mode, env_offline, expected,
                                                  not_expected) -> None:
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    from modules.families.parts.sources import local_model_path

    def unreachable(*_args, **_kwargs):
        raise LocalEntryNotFoundError('cannot find the requested files in the local cache')

    monkeypatch.setattr(huggingface_hub, 'snapshot_download', unreachable)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', env_offline)
    config = TrainConfig.default_values()
    config.offline_mode = offline_mode
    with pytest.raises(FileNotFoundError) as caught:
        local_model_path('some-org/some-model', config)
    assert expected in str(caught.value) and not_expected not in str(caught.value)


async def test_no_gpu_says_what_it_means(user: User) -> None:
    from ot_nicegui.state.system_monitor import get_monitor

    await user.open('/?tab=performance')
    if get_monitor().gpu_source:
        pytest.skip('this machine has a GPU')
    await user.should_see('No NVIDIA GPU found: training runs on the CPU', marker='perf-no-gpu')
    with user:
        label = next(iter(ElementFilter(marker='perf-no-gpu')))
        assert 'NVML' not in label.text and 'Library' not in label.text


def tab_value(user: User) -> str:
    with user:
        return next(iter(ElementFilter(kind=ui.tabs))).value


async def test_start_problems_name_the_setting_and_lead_to_it(user: User, data_dir: Path) -> None:
    concepts = data_dir / 'training_concepts' / 'mine.json'
    concepts.parent.mkdir(parents=True)
    concepts.write_text(json.dumps([{'name': 'cats', 'path': str(data_dir / 'no-such-folder'), 'enabled': True}]))
    config = get_session().config
    config.concept_file_name = 'training_concepts/mine.json'
    config.base_model_name = str(data_dir / 'no-such-model')
    config.learning_rate = 0
    await user.open('/?tab=general')
    user.find(marker='train-start').click()
    await user.should_see(marker='start-problems')
    await user.should_see('Base model: ')
    await user.should_see('Learning rate: must be greater than 0')
    await user.should_see('Concept "cats": Path: ')
    with user:
        texts = [label.text for label in ElementFilter(kind=ui.label, marker='start-problem')]
    assert not any('concepts[' in text or 'base_model_name' in text for text in texts), texts

    def go_button(start: str) -> str:
        index = next(i for i, text in enumerate(texts) if text.startswith(start))
        return f'start-problem-go-{index}'

    user.find(marker=go_button('Concept "cats"')).click()
    await user.should_not_see(marker='start-problems')
    await user.should_see(marker='concept-dialog')
    await user.should_see(marker='concept-path')
    assert tab_value(user) == 'concepts'
    user.find(marker='concept-dialog-ok').click()
    await user.should_not_see(marker='concept-dialog')

    user.find(marker='train-start').click()
    await user.should_see(marker='start-problems')
    user.find(marker=go_button('Learning rate')).click()
    assert tab_value(user) == 'training'
    await user.should_see('Learning rate (learning_rate)')  # the status line names the field it went to
