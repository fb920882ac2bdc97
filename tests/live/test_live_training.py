"""Training from the UI with a tiny SD 1.5 LoRA: progress, charts, samples, stop, failures."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from conftest import tiny_run
from nicegui import ui
from nicegui.testing import User

from ot_nicegui.state.config_session import get_session
from ot_nicegui.state.training_session import Outcome, Phase, get_training_session


async def until(predicate, timeout: float = 240.0, what: str = 'condition') -> None:
    """Wait (letting the app's loop run) until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        await asyncio.sleep(0.1)


def plot(user: User, marker: str) -> ui.plotly:
    with user:
        return next(iter(user.find(marker=marker).elements))


async def test_a_run_started_in_the_ui_shows_progress_charts_samples_and_completion(
        create_user, data_dir: Path, tiny_model: Path, concept_dir: Path) -> None:
    alice: User = create_user()
    await alice.open('/?tab=run')
    config = get_session().config
    tiny_run(config, data_dir, tiny_model, concept_dir, epochs=2, sample_every=2)
    session = get_training_session()
    alice.find(marker='train-start').click()
    await alice.should_see('Starting')
    await until(lambda: session.progress.global_step >= 1, what='the first step')
    await alice.should_see('Step 1 / 2', retries=100)
    await until(lambda: session.phase == Phase.IDLE, what='the end of the run')
    assert session.last_outcome == Outcome.FINISHED, session.summary
    await alice.should_see('Training finished')
    await alice.should_see('Finished', marker='train-status')

    loss = plot(alice, 'run-chart-loss').figure['data']
    names = [trace['name'] for trace in loss]
    assert names == ['loss', 'smoothed loss']
    assert loss[0]['x'] == [0, 1, 2, 3] and all(y > 0 for y in loss[0]['y'])
    lr = plot(alice, 'run-chart-lr').figure['data']
    assert lr and all(len(trace['x']) == 4 for trace in lr)
    await alice.should_see(marker='gallery-image')
    steps = [record.step for record in session.samples]
    assert steps and steps[0] == 0 and all(record.path.startswith('samples/') for record in session.samples)
    output = data_dir / 'models' / 'out.safetensors'
    assert output.is_file()

    # a browser that opens now sees the whole run
    bob: User = create_user()
    await bob.open('/?tab=run')
    assert plot(bob, 'run-chart-loss').figure['data'][0]['x'] == [0, 1, 2, 3]
    with bob:
        assert len(bob.find(marker='gallery-image').elements) == len(session.samples)
    await bob.should_see('Finished', marker='train-status')
    response = await bob.http_client.get(f'/run-files/{session.samples[0].path}')
    assert response.status_code == 200 and response.headers['content-type'].startswith('image/')
