"""The job queue and the API tokens on the Run tab."""
from __future__ import annotations

import json
from pathlib import Path

from nicegui.testing import User

from ot_nicegui.state.job_queue import get_job_queue
from ot_nicegui.state.job_store import JobState


def visible(user: User, marker: str) -> list:
    with user:
        return [e for e in user.find(marker=marker).elements if not e.is_deleted and e.visible]


async def test_the_current_config_is_queued_ordered_and_removed(user: User, data_dir: Path) -> None:
    concepts = data_dir / 'training_concepts' / 'concepts.json'
    concepts.parent.mkdir(parents=True)
    concepts.write_text(json.dumps([{'name': 'cats', 'path': 'cats'}]))
    await user.open('/?tab=run')
    await user.should_see(marker='queue-empty')
    user.find(marker='queue-add').click()
    user.find(marker='queue-add').click()
    await user.should_see('Queued')
    queue = get_job_queue()
    first, second = queue.store.jobs()
    assert first.config['concepts'][0]['name'] == 'cats'  # the concepts travel inside the job
    assert len(visible(user, f'job-{second.id}')) == 1

    user.find(marker=f'job-{second.id}-arrow_upward').click()
    assert [j.id for j in queue.store.jobs()] == [second.id, first.id]

    user.find(marker=f'job-{first.id}-delete').click()
    assert [j.id for j in queue.store.jobs()] == [second.id]
    await user.should_not_see(marker=f'job-{first.id}')
    assert queue.store.get(second.id).state == JobState.QUEUED


async def test_tokens_are_created_shown_once_and_revoked(user: User) -> None:
    await user.open('/?tab=run')
    user.find(marker='token-name').type('nightly')
    user.find(marker='token-create').click()
    await user.should_see(marker='token-dialog')
    with user:
        token = next(iter(user.find(marker='token-value').elements)).value
    store = get_job_queue().store
    assert store.check_token(token) and [t.name for t in store.tokens()] == ['nightly']
    user.find(marker='token-revoke').click()
    assert not store.check_token(token) and store.tokens() == []


async def test_the_queue_button_starts_and_pauses_the_queue(user: User) -> None:
    await user.open('/?tab=run')
    await user.should_see('Start queue')
    user.find(marker='queue-toggle').click()
    await user.should_see('Pause queue')
    assert get_job_queue().running
    user.find(marker='queue-toggle').click()
    await user.should_see('Start queue')
    assert not get_job_queue().running
