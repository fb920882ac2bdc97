"""The bottom bar's progress texts."""
from __future__ import annotations

from ot_nicegui.state.run_view import progress_view
from ot_nicegui.state.training_session import Progress, TrainingSession


def view_of(**progress) -> dict:
    session = TrainingSession()
    session.run_id = 1
    session.progress = Progress(**progress)
    return progress_view(session, estimates=False)


def test_a_finished_run_shows_its_last_epoch_and_every_step_done() -> None:
    ended = view_of(epoch=3, epoch_step=0, global_step=12, max_step=4, max_epoch=3)
    assert (ended['epoch_text'], ended['step_text']) == ('Epoch 3 / 3', 'Step 4 / 4')
    assert ended['epoch_value'] == 1.0 and ended['step_value'] == 1.0
    going = view_of(epoch=1, epoch_step=2, global_step=6, max_step=4, max_epoch=3)
    assert (going['epoch_text'], going['step_text']) == ('Epoch 2 / 3', 'Step 2 / 4')
    assert going['step_value'] == 0.5
