"""Training from the UI with a tiny SD 1.5 LoRA: progress, charts, samples, stop, failures."""
from __future__ import annotations

from pathlib import Path

from nicegui import ui
from nicegui.testing import User

from live.support import tiny_run, until
from ot_nicegui.state.config_session import get_session
from ot_nicegui.state.training_session import Outcome, Phase, get_training_session


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
    await until(lambda: session.phase == Phase.IDLE, what='the end of the run')
    assert session.last_outcome == Outcome.FINISHED, session.summary
    await alice.should_see('Training finished')
    await alice.should_see('Finished', marker='train-progress')
    await alice.should_see('Step 2 / 2', marker='train-progress')  # the last epoch's steps, all done

    # every value the trainer logged came through its scalar events, without the event files
    assert session.scalars['loss/train_step'][0] == [0, 1, 2, 3]
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
    await bob.should_see('Finished', marker='train-progress')
    response = await bob.http_client.get(f'/run-files/{session.samples[0].path}')
    assert response.status_code == 200 and response.headers['content-type'].startswith('image/')


async def test_commands_while_running_and_stop_leaves_a_backup(
        user: User, data_dir: Path, tiny_model: Path, concept_dir: Path) -> None:
    await user.open('/?tab=run')
    tiny_run(get_session().config, data_dir, tiny_model, concept_dir, epochs=500)
    session = get_training_session()
    workspace = data_dir / 'workspace' / 'run'
    with user:
        assert not user.find(marker='train-stop').elements.pop().enabled  # idle: only start
    user.find(marker='train-start').click()
    await until(lambda: session.phase == Phase.RUNNING and session.progress.global_step >= 1, what='running')
    await user.should_see(content='it/s', marker='train-progress', retries=100)
    with user:
        assert not user.find(marker='train-start').elements.pop().enabled

    user.find(marker='train-sample').click()
    await until(lambda: len(session.samples) >= 1, what='the requested sample')
    user.find(marker='train-custom-sample').click()
    user.find(marker='custom-sample-prompt').clear().type('a custom prompt')
    user.find(marker='custom-sample-width').clear().type('32')
    user.find(marker='custom-sample-height').clear().type('32')
    user.find(marker='custom-sample-diffusion_steps').clear().type('1')
    user.find(marker='custom-sample-submit').click()
    await until(lambda: any(r.custom for r in session.samples), what='the custom sample')
    custom = next(r for r in session.samples if r.custom)
    assert custom.prompt == 'a custom prompt' and custom.path.startswith('samples/custom/')
    await user.should_see('Custom: a custom prompt')

    user.find(marker='train-backup').click()
    await until(lambda: (workspace / 'backup').is_dir() and any((workspace / 'backup').iterdir()),
                what='the requested backup')
    user.find(marker='train-save').click()
    await until(lambda: (workspace / 'save').is_dir() and any((workspace / 'save').iterdir()),
                what='the requested save')

    before = len(list((workspace / 'backup').iterdir()))
    user.find(marker='train-stop').click()
    await user.should_see('Stopping')
    await until(lambda: session.phase == Phase.IDLE, what='the stop')
    assert session.last_outcome == Outcome.STOPPED
    await user.should_see('Training stopped')
    backups = sorted((workspace / 'backup').iterdir())
    assert len(backups) == before + 1 and (backups[-1] / 'meta.json').is_file()
    assert (data_dir / 'models' / 'out.safetensors').is_file()
    assert session.progress.global_step < 1000


async def test_a_failing_run_shows_the_error_and_the_next_run_works(
        user: User, caplog, data_dir: Path, tiny_model: Path, concept_dir: Path) -> None:
    await user.open('/?tab=run')
    config = get_session().config
    tiny_run(config, data_dir, tiny_model, concept_dir, epochs=1)
    not_a_model = data_dir / 'empty-model'
    not_a_model.mkdir()
    config.base_model_name = str(not_a_model)  # exists, so it passes validation, but cannot load
    session = get_training_session()
    user.find(marker='train-start').click()
    await until(lambda: session.phase == Phase.IDLE and session.summary is not None
                and session.summary.outcome is not None, what='the failure')
    assert session.last_outcome == Outcome.FAILED
    await user.should_see('Training failed')
    await user.should_see(marker='run-error')
    user.find(marker='train-error-details').click()
    await user.should_see(marker='train-traceback')
    with user:
        code = user.find(marker='train-traceback').elements.pop()
        assert 'Traceback' in code.content
    caplog.clear()  # the failure was logged as an error on purpose

    config.base_model_name = str(tiny_model)
    failed_run = session.run_id
    user.find(marker='train-start').click()
    await until(lambda: session.run_id != failed_run and session.phase == Phase.IDLE
                and session.summary.outcome is not None, what='the second run')
    assert session.last_outcome == Outcome.FINISHED
    await user.should_see('Training finished')
    await user.should_not_see(marker='run-error')


async def test_configuration_errors_block_the_start_and_are_all_listed(
        user: User, data_dir: Path, tiny_model: Path, concept_dir: Path) -> None:
    await user.open('/?tab=run')
    config = get_session().config
    tiny_run(config, data_dir, tiny_model, concept_dir)
    config.base_model_name = str(data_dir / 'no-such-model')
    config.concept_file_name = 'training_concepts/missing.json'
    user.find(marker='train-start').click()
    await user.should_see(marker='start-problems')
    await user.should_see('Base model: ')
    await user.should_see('Concepts: no enabled concept')
    session = get_training_session()
    assert session.phase == Phase.IDLE and session.run_id == 0
    user.find(marker='start-problems-close').click()
    await user.should_not_see(marker='start-problems')


async def test_workspace_files_route_never_leaves_the_workspace(user: User, data_dir: Path) -> None:
    await user.open('/')
    workspace = data_dir / 'workspace' / 'run'
    (workspace / 'samples').mkdir(parents=True)
    (workspace / 'samples' / 'a.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    (data_dir / 'secret.png').write_bytes(b'secret')
    assert (await user.http_client.get('/run-files/samples/a.png')).status_code == 200
    for probe in ('../secret.png', '..%2Fsecret.png', '%2e%2e/secret.png', str(data_dir / 'secret.png'),
                  'samples/../../secret.png', 'samples/missing.png'):
        assert (await user.http_client.get(f'/run-files/{probe}')).status_code == 404, probe
