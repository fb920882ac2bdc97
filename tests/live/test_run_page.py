"""The run on a phone (`/run`): idle, a tiny run whose progress moves and that Stop ends, and the
ways in from the main page."""
from __future__ import annotations

from pathlib import Path

from nicegui.testing import User

from live.support import tiny_run, until
from ot_nicegui.state.config_session import get_session
from ot_nicegui.state.training_session import Outcome, Phase, Update, get_training_session


def enabled(user: User, marker: str) -> bool:
    with user:
        return user.find(marker=marker).elements.pop().enabled


async def test_idle_page_disables_stop_and_sample(user: User) -> None:
    session = get_training_session()
    await until(lambda: not session.busy, what='an idle session')  # nothing of an earlier test still going
    session.reset()
    session.updated.emit(Update(session.run_id, reset=True, state=True))  # the live feed shows the reset
    await user.open('/run')
    await user.should_see('Training run')
    await user.should_see('Nothing is running', marker='run-page-idle')
    await user.should_see('Ready', marker='train-progress')
    await user.should_see(marker='run-page-loss')
    await user.should_see('No samples yet.')
    assert not enabled(user, 'run-page-stop')
    assert not enabled(user, 'run-page-sample-now')
    user.find(marker='run-page-settings').click()
    await user.should_see(marker='tab-run')


async def test_the_main_page_links_to_the_run_page(user: User) -> None:
    await user.open('/?tab=run')
    user.find(marker='open-run-page').click()
    await user.should_see(marker='run-page-stop')
    await user.open('/')
    user.find(marker='top-overflow').click()
    user.find(marker='menu-run-page').click()
    await user.should_see(marker='run-page-stop')


async def test_a_running_run_moves_on_the_page_and_stop_ends_it(
        user: User, data_dir: Path, tiny_model: Path, concept_dir: Path) -> None:
    tiny_run(get_session().config, data_dir, tiny_model, concept_dir, epochs=500)
    await user.open('/run')
    session = get_training_session()
    session.start(get_session().config, data_dir)
    await until(lambda: session.phase == Phase.RUNNING and session.progress.global_step >= 2, what='running')
    await user.should_see(content='ETA', marker='train-progress', retries=100)
    await user.should_not_see(marker='run-page-idle')
    assert enabled(user, 'run-page-stop') and enabled(user, 'run-page-sample-now')
    with user:
        progress = user.find(marker='train-progress').elements.pop()
    before = progress.state['step_text']
    await until(lambda: progress.state['step_text'] != before, what='the progress to move')
    # the loss chart holds the run's points (the session's own lists)
    with user:
        loss = user.find(marker='run-page-loss').elements.pop()
    await until(lambda: loss.figure['data'] and len(loss.figure['data'][0]['x']) >= 2, what='loss points')
    assert loss.keys[0] == 'loss/train_step'

    user.find(marker='run-page-sample-now').click()
    await until(lambda: len(session.samples) >= 1, what='the requested sample')
    await user.should_see(marker='run-page-sample', retries=100)

    user.find(marker='run-page-stop').click()
    await user.should_see('Stopping', marker='train-progress')
    await until(lambda: session.phase == Phase.IDLE, what='the stop')
    assert session.last_outcome == Outcome.STOPPED
    await user.should_see(marker='run-page-idle')
    assert not enabled(user, 'run-page-stop') and not enabled(user, 'run-page-sample-now')
