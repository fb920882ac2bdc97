"""The main page renders, tabs follow the training method, fields bind both ways."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from nicegui.testing import User
from ot_test_paths import REPO_ROOT

from modules.config.enums import ModelType, Optimizer, TrainingMethod
from ot_nicegui.state.config_session import get_session


async def test_every_tab_renders(user: User) -> None:
    await user.open('/')
    await user.should_see('General')
    for label in ('General', 'Model', 'Data', 'Training', 'Backup', 'Tools', 'Cloud', 'Help'):
        user.find(marker=f'tab-{label.lower()}').click()
        await user.should_see(marker=f'panel-{label.lower()}')
    await user.should_see(marker='workspace_dir')
    await user.should_see(marker='base_model_name')
    await user.should_see(marker='learning_rate')


async def test_typing_changes_the_config(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    user.find(marker='workspace_dir').clear().type('runs/a')
    assert cfg.workspace_dir == 'runs/a'
    user.find(marker='tab-training').click()
    user.find(marker='learning_rate').clear().type('0.0005')
    assert cfg.learning_rate == 0.0005
    user.find(marker='epochs').clear().type('7')
    assert cfg.epochs == 7 and isinstance(cfg.epochs, int)


async def test_invalid_input_shows_a_message_and_never_reaches_the_config(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    user.find(marker='tab-training').click()
    user.find(marker='epochs').clear().type('many')
    await user.should_see('Enter a whole number')
    assert cfg.epochs == 100
    user.find(marker='epochs').clear()
    await user.should_see('A value is required')
    user.find(marker='ema_decay').clear().type('1.5')
    await user.should_see('Must be at most 1')
    assert cfg.ema_decay == 0.999
    user.find(marker='clip_grad_norm').clear()  # nullable: empty means "no value"
    assert cfg.clip_grad_norm is None


async def test_config_changes_reach_every_client(create_user) -> None:
    alice: User = create_user()
    bob: User = create_user()
    await alice.open('/')
    await bob.open('/')
    alice.find(marker='tab-backup').click()
    bob.find(marker='tab-backup').click()
    alice.find(marker='save_filename_prefix').clear().type('shared-run')
    await bob.should_see('shared-run')
    get_session().config.tensorboard_port = 7007
    await alice.should_see('7007')
    await bob.should_see('7007')


@pytest.mark.parametrize('method, shown, hidden', [
    (TrainingMethod.FINE_TUNE, [], ['lora', 'embedding']),
    (TrainingMethod.LORA, ['lora'], ['embedding']),
    (TrainingMethod.EMBEDDING, ['embedding'], ['lora']),
    (TrainingMethod.FINE_TUNE_VAE, [], ['lora', 'embedding']),
])
async def test_tabs_follow_the_training_method(user: User, method, shown, hidden) -> None:
    await user.open('/')
    get_session().config.training_method = method
    for key in shown:
        user.find(marker=f'tab-{key}').click()
        await user.should_see(marker=f'panel-{key}')
    for key in hidden:
        await user.should_not_see(marker=f'tab-{key}')


async def test_additional_embeddings_tab_only_for_types_with_embeddings(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    await user.should_see(marker='tab-additional_embeddings')
    cfg.model_type = ModelType.FLUX_2
    await user.should_not_see(marker='tab-additional_embeddings')
    cfg.model_type = ModelType.FLUX_DEV_1
    await user.should_see(marker='tab-additional_embeddings')


async def test_optimizer_switch_restores_remembered_values(user: User) -> None:
    await user.open('/')
    cfg = get_session().config
    user.find(marker='tab-training').click()
    cfg.optimizer.beta1 = 0.5
    user.find(marker='optimizer.optimizer').click()
    user.find('Prodigy').click()
    assert cfg.optimizer.optimizer == Optimizer.PRODIGY
    assert cfg.optimizer.d_coef == 1.0
    user.find(marker='optimizer.optimizer').click()
    user.find('AdamW').click()
    assert cfg.optimizer.optimizer == Optimizer.ADAMW
    assert cfg.optimizer.beta1 == 0.5


def test_no_torch_at_start_up(tmp_path) -> None:
    """Building the app and importing the shell's tabs must not load torch (it is imported lazily)."""
    code = (
        'import sys, importlib\n'
        'import ot_nicegui.__main__ as m\n'
        'm.build(m.parse_args(["--data-dir", sys.argv[1]]))\n'
        'from ot_nicegui.app import TABS\n'
        'own = [t.module for t in TABS if t.key not in ("concepts", "sampling")]\n'
        'for name in own: importlib.import_module(name)\n'
        'print("torch" in sys.modules)\n'
    )
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    result = subprocess.run([sys.executable, '-c', code, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO_ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'False'


async def test_the_header_opens_help_whatever_the_tab_bar_shows(user: User) -> None:
    await user.open('/?tab=training')
    user.find(marker='help-button').click()
    await user.should_see(marker='panel-help')


async def test_stop_looks_disabled_while_nothing_runs(user: User) -> None:
    await user.open('/')
    with user:
        stop = next(iter(user.find(marker='train-stop').elements))
    assert not stop.enabled and stop.props['color'] == 'grey-7'


async def test_start_asks_before_clearing_a_filled_cache(user: User, data_dir, monkeypatch) -> None:
    from ot_nicegui.state.config_session import get_session
    from ot_nicegui.state.training_session import StartRefused, get_training_session

    started = []

    def fake_start(config, base_dir=None):
        started.append(config.clear_cache_before_training)
        raise StartRefused('stopped here')

    monkeypatch.setattr(get_training_session(), 'start', fake_start)
    config = get_session().config
    config.latent_caching, config.clear_cache_before_training = True, True
    config.cache_dir = 'cache'
    (data_dir / 'cache' / 'image').mkdir(parents=True)
    await user.open('/')
    user.find(marker='train-start').click()
    await user.should_see(marker='clear-cache-dialog')
    user.find(marker='clear-cache-cancel').click()
    await user.should_not_see(marker='clear-cache-dialog')
    assert started == []
    user.find(marker='train-start').click()
    await user.should_see(marker='clear-cache-dialog')
    user.find(marker='clear-cache-keep').click()
    await user.should_see('stopped here')
    assert started == [False] and config.clear_cache_before_training  # this run only
    user.find(marker='train-start').click()
    await user.should_see(marker='clear-cache-dialog')
    user.find(marker='clear-cache-confirm').click()
    await user.should_not_see(marker='clear-cache-dialog')
    assert started == [False, True]
