"""The job queue: persistence in SQLite, running jobs one after another on the training session
(with the stand-in trainer), interruption and resume."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from live.support import FakeTrainer
from ot_nicegui.state.job_queue import JobQueue
from ot_nicegui.state.job_store import JobError, JobState, JobStore
from ot_nicegui.state.training_session import TrainingSession


def pack(config) -> dict:
    return config.to_pack_dict()


def finish_run(session: TrainingSession) -> None:
    """Let the stand-in trainer end and hand its end to the session (what the relay does)."""
    assert session.wait(10)
    session.drain()


def test_jobs_and_their_order_survive_a_restart(tmp_path: Path, config) -> None:
    store = JobStore.in_data_dir(tmp_path)
    first = store.add(pack(config), 'first')
    second = store.add(pack(config), 'second')
    third = store.add(pack(config))
    store.move(third.id, 0)
    store.close()

    reopened = JobStore.in_data_dir(tmp_path)
    assert [j.name for j in reopened.jobs()] == [third.name, 'first', 'second']
    assert all(j.state == JobState.QUEUED for j in reopened.jobs())
    assert reopened.get(first.id).config == pack(config)
    assert third.name == Path(config.output_model_destination).name  # named after its output when not named
    assert reopened.next_queued().id == third.id
    reopened.remove(second.id)
    with pytest.raises(JobError, match='no job'):
        reopened.get(second.id)
    assert (tmp_path / 'jobs.sqlite3').stat().st_mode & 0o077 == 0


def test_the_queue_runs_jobs_one_after_another_and_records_each_outcome(tmp_path: Path, config, fake) -> None:
    FakeTrainer.steps = 20
    session = TrainingSession()
    queue = JobQueue(JobStore.in_data_dir(tmp_path), session, tmp_path)
    broken = pack(config)
    broken['base_model_name'] = str(tmp_path / 'no-such-model')
    a = queue.add(pack(config), 'a')
    b = queue.add(broken, 'b')
    c = queue.add(pack(config), 'c')
    assert not session.busy  # nothing starts before the queue is started

    queue.start()
    assert queue.current == a.id and queue.store.get(a.id).state == JobState.RUNNING
    finish_run(session)
    # a finished; b was refused at its start (its reason kept); c runs now
    assert queue.store.get(a.id).state == JobState.DONE
    refused = queue.store.get(b.id)
    assert refused.state == JobState.FAILED and 'base_model_name' in refused.message
    assert queue.current == c.id
    finish_run(session)
    assert queue.store.get(c.id).state == JobState.DONE and queue.current is None
    assert len(fake) == 2  # the refused job never reached a trainer


def test_a_stopped_or_failed_run_is_recorded_and_pause_takes_no_further_job(tmp_path: Path, config, fake) -> None:
    FakeTrainer.gate = threading.Event()
    session = TrainingSession()
    queue = JobQueue(JobStore.in_data_dir(tmp_path), session, tmp_path)
    a = queue.add(pack(config), 'a')
    b = queue.add(pack(config), 'b')
    queue.start()
    queue.pause()
    with pytest.raises(JobError, match='running'):
        queue.remove(a.id)
    queue.stop(a.id)
    FakeTrainer.gate.set()
    finish_run(session)
    assert queue.store.get(a.id).state == JobState.STOPPED
    assert queue.store.get(b.id).state == JobState.QUEUED and not session.busy  # paused

    FakeTrainer.fail_in = 'train'
    queue.run_now(b.id)
    finish_run(session)
    failed = queue.store.get(b.id)
    assert failed.state == JobState.FAILED and failed.message == 'loss is nan'


def test_a_job_running_when_the_app_died_is_interrupted_and_resumes_from_its_backup(
        tmp_path: Path, config, fake) -> None:
    FakeTrainer.gate = threading.Event()
    session = TrainingSession()
    queue = JobQueue(JobStore.in_data_dir(tmp_path), session, tmp_path)
    job = queue.add(pack(config), 'long run')
    queue.start()
    assert queue.store.get(job.id).state == JobState.RUNNING
    # the app dies here: a new process opens the same file
    restarted = JobQueue(JobStore.in_data_dir(tmp_path), TrainingSession(), tmp_path)
    assert [j.id for j in restarted.interrupted] == [job.id]
    assert restarted.store.get(job.id).state == JobState.INTERRUPTED
    session.stop()
    FakeTrainer.gate.set()
    finish_run(session)

    FakeTrainer.gate = None
    resumed = restarted.resume(job.id)
    assert resumed.resume and resumed.state == JobState.QUEUED
    restarted.start()
    assert fake[-1].config.continue_last_backup  # the trainer was told to continue from the last backup
    assert not fake[0].config.continue_last_backup
    finish_run(restarted.session)
    assert restarted.store.get(job.id).state == JobState.DONE


def test_what_is_not_a_config_is_refused_before_it_is_stored(tmp_path: Path, config) -> None:
    queue = JobQueue(JobStore.in_data_dir(tmp_path), TrainingSession(), tmp_path)
    with pytest.raises(JobError, match='concepts'):
        queue.add(config.to_settings_dict())  # concepts detached: the job would not know its data
    with pytest.raises(JobError, match='config object'):
        queue.add(['not', 'a', 'dict'])
    assert queue.store.jobs() == []


def test_tokens_are_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    store = JobStore.in_data_dir(tmp_path)
    info, token = store.create_token('script')
    assert store.check_token(token) and not store.check_token(token + 'x') and not store.check_token('')
    assert token.encode() not in (tmp_path / 'jobs.sqlite3').read_bytes()
    assert store.tokens()[0].last_used_at is not None
    store.revoke_token(info.id)
    assert not store.check_token(token)
    with pytest.raises(JobError):
        store.revoke_token(info.id)
