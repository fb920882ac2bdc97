"""The training session with a stand-in trainer: batching, run isolation, failures, speed figures."""
from __future__ import annotations

import threading

import pytest

import modules.engine as engine
from live.support import FakeTrainer
from modules.config.enums import ModelType
from modules.train.events import ProgressEvent, ScalarEvent
from ot_nicegui.state.run_events import RunEvent
from ot_nicegui.state.training_session import Outcome, Phase, StartRefused, TrainingSession


def test_a_burst_of_events_becomes_one_update_and_the_trainer_never_waits(config, fake) -> None:
    session = TrainingSession()
    updates = []
    session.updated.subscribe(updates.append)
    session.start(config)
    assert session.wait(10)  # the trainer got through its 1000 steps although nobody drained the queue
    assert session.phase == Phase.STARTING  # the UI state moves only when the relay drains
    update = session.drain()
    assert updates[-1] is update and update.ended is not None and update.state
    steps, values = update.scalars['loss/train_step']
    assert steps == list(range(1000)) and set(values) == {0.5}
    assert session.scalars['loss/train_step'][0] == steps
    assert session.progress.global_step == 1000 and session.phase == Phase.IDLE
    assert session.last_outcome == Outcome.FINISHED and session.status == 'Finished'
    assert fake[0].ended
    assert session.drain() is None
    assert fake[0].config is not config and fake[0].config.workspace_dir == config.workspace_dir


def test_the_run_gets_a_copy_of_the_config(config, fake) -> None:
    FakeTrainer.gate = threading.Event()
    session = TrainingSession()
    session.start(config)
    config.learning_rate = 123.0
    assert fake[0].config.learning_rate != 123.0
    with pytest.raises(StartRefused):
        session.start(config)  # one run at a time
    session.stop()
    FakeTrainer.gate.set()
    assert session.wait(10)
    session.drain()
    assert session.last_outcome == Outcome.STOPPED and session.progress.global_step < 1000


@pytest.mark.parametrize('where', ['init', 'train'])
def test_a_failure_ends_the_run_with_its_reason_and_the_next_run_starts(config, fake, where) -> None:
    FakeTrainer.fail_in = where
    session = TrainingSession()
    session.start(config)
    assert session.wait(10)
    session.drain()
    summary = session.summary
    assert summary.outcome == Outcome.FAILED and session.phase == Phase.IDLE
    assert summary.error in ('no such model', 'loss is nan')  # the exception's type is in the traceback only
    assert 'Traceback' in summary.traceback and session.status.startswith('Failed: ')
    assert ('OSError' if where == 'init' else 'ValueError') in summary.traceback
    FakeTrainer.fail_in = None
    session.start(config)
    assert session.wait(10)
    session.drain()
    assert session.last_outcome == Outcome.FINISHED and session.summary.error == ''


def test_errors_refuse_the_start_and_list_every_problem(config, fake) -> None:
    config.base_model_name = '/no/such/model'
    config.concepts[0].path = '/no/such/folder'
    with pytest.raises(StartRefused) as refused:
        TrainingSession().start(config)
    paths = {p.path for p in refused.value.problems}
    assert {'base_model_name', 'concepts[0].path'} <= paths and not fake


def test_events_of_an_earlier_run_are_dropped(config, fake) -> None:
    session = TrainingSession()
    session.start(config)
    assert session.wait(10)
    session.drain()
    session.post(RunEvent(session.run_id - 1, ProgressEvent(0, 5, 5, 10, 1)))
    assert session.drain() is None and session.progress.global_step == 1000


def test_speed_and_time_left_come_from_the_trainer_side_timestamps() -> None:
    session = TrainingSession()
    session.run_id = 1
    for i in range(11):
        session.post(RunEvent(1, ProgressEvent(0, i, i, 20, 2), at=100.0 + i * 0.5))
    session.drain()
    p = session.progress
    assert p.it_per_second == pytest.approx(2.0)
    assert p.eta_seconds == pytest.approx((2 * 20 - 10) / 2.0)
    assert p.epoch_fraction == 0 and p.step_fraction == 0.5


def test_a_model_type_that_cannot_train_is_refused_before_any_thread_starts(config, fake,
                                                                            model_type_without_family) -> None:
    from modules.families import supported_model_types

    untrainable = next(m for m in ModelType if m not in supported_model_types())
    config.model_type = untrainable
    config.training_method = untrainable.supported_training_methods()[0]
    session = TrainingSession()
    with pytest.raises(StartRefused) as refused:
        session.start(config)
    errors = [p for p in refused.value.problems if p.severity == 'error']
    assert any(p.path == 'model_type' and 'cannot be trained' in p.message for p in errors), errors
    assert not fake and session.phase == Phase.IDLE and not session.busy


def test_warnings_are_returned_and_do_not_refuse_the_start(config, fake, monkeypatch) -> None:
    from modules.config.validation import Problem

    checked = engine.check

    def with_warning(cfg, **kwargs):
        return [*checked(cfg, **kwargs), Problem('ema_decay', 'ignored for this model', 'warning')]

    monkeypatch.setattr(engine, 'check', with_warning)
    session = TrainingSession()
    warnings = session.start(config)
    assert session.wait(10)
    assert [(p.path, p.severity) for p in warnings] == [('ema_decay', 'warning')]
    session.drain()
    assert session.last_outcome == Outcome.FINISHED


def test_a_scalar_the_trainer_logs_reaches_the_session_through_on_scalar(config, monkeypatch) -> None:
    class LogsOneValue:
        def __init__(self, config, callbacks, commands):
            self.callbacks = callbacks

        def start(self):
            pass

        def train(self):
            self.callbacks.on_scalar(ScalarEvent('lr/text_encoder/0', 3, 1e-4))

        def end(self):
            pass

    monkeypatch.setattr(engine, 'create_trainer', LogsOneValue)
    session = TrainingSession()
    session.start(config)
    assert session.wait(10)
    update = session.drain()
    assert update.scalars == {'lr/text_encoder/0': ([3], [1e-4])}
    assert session.scalars == {'lr/text_encoder/0': ([3], [1e-4])}
    assert session.last_outcome == Outcome.FINISHED
