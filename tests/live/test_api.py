"""The REST API: every route with and without a token, on the queue with the stand-in trainer."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from live.support import FakeTrainer
from ot_nicegui import api
from ot_nicegui.auth import Authenticator
from ot_nicegui.state.job_queue import JobQueue
from ot_nicegui.state.job_store import JobStore
from ot_nicegui.state.training_session import TrainingSession

PASSWORD = 'correct horse'


def client_for(tmp_path: Path, password: str | None) -> tuple[TestClient, JobQueue]:
    queue = JobQueue(JobStore.in_data_dir(tmp_path), TrainingSession(), tmp_path)
    authenticator = Authenticator.from_password(password, 'secret') if password else None
    target = FastAPI()
    api.install(target, queue, authenticator)
    return TestClient(target), queue


def settle(queue: JobQueue) -> None:
    assert queue.session.wait(10)
    queue.session.drain()


ROUTES = [('get', '/api/jobs', None), ('post', '/api/jobs', {'config': {}}), ('get', '/api/jobs/1', None),
          ('delete', '/api/jobs/1', None), ('post', '/api/jobs/1/move', {'position': 0}),
          ('post', '/api/jobs/1/start', None), ('post', '/api/jobs/1/stop', None),
          ('post', '/api/jobs/1/resume', None), ('post', '/api/queue/start', None),
          ('post', '/api/queue/pause', None), ('get', '/api/status', None), ('get', '/api/samples', None),
          ('get', '/api/samples/0/file', None)]


def test_with_a_password_every_route_wants_a_valid_token(tmp_path: Path) -> None:
    client, queue = client_for(tmp_path, PASSWORD)
    for method, path, body in ROUTES:
        for headers in ({}, {'Authorization': 'Bearer otk_forged'}, {'Authorization': 'Basic abc'}):
            answer = client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers['www-authenticate'] == 'Bearer'
    assert client.post('/api/login', json={'password': 'wrong'}).status_code == 401
    login = client.post('/api/login', json={'password': PASSWORD, 'name': 'nightly script'})
    assert login.status_code == 200
    token = login.json()['token']
    authorized = {'Authorization': f'Bearer {token}'}
    assert client.get('/api/jobs', headers=authorized).json() == {'running': False, 'current': None, 'jobs': []}
    assert [t.name for t in queue.store.tokens()] == ['nightly script']
    queue.store.revoke_token(login.json()['id'])
    assert client.get('/api/jobs', headers=authorized).status_code == 401


def test_logins_are_rate_limited(tmp_path: Path) -> None:
    client, _queue = client_for(tmp_path, PASSWORD)
    codes = [client.post('/api/login', json={'password': 'guess'}).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    assert client.post('/api/login', json={'password': PASSWORD}).status_code == 429


def test_without_a_password_the_api_is_open_and_login_says_so(tmp_path: Path) -> None:
    client, _queue = client_for(tmp_path, None)
    assert client.get('/api/jobs').status_code == 200
    answer = client.post('/api/login', json={'password': 'x'})
    assert answer.status_code == 400 and 'no password' in answer.json()['detail']


def test_a_script_queues_runs_and_watches_jobs(tmp_path: Path, config, fake) -> None:
    FakeTrainer.steps = 10
    client, queue = client_for(tmp_path, None)
    body = {'config': config.to_pack_dict(), 'name': 'first'}
    first = client.post('/api/jobs', json=body).json()
    second = client.post('/api/jobs', json={**body, 'name': 'second'}).json()
    assert first['state'] == 'queued' and first['model_type'] == 'STABLE_DIFFUSION_15'
    assert client.get(f"/api/jobs/{first['id']}").json()['config']['base_model_name'] == config.base_model_name

    listing = client.post(f"/api/jobs/{second['id']}/move", json={'position': 0}).json()
    assert [j['name'] for j in listing['jobs']] == ['second', 'first']
    assert client.post(f"/api/jobs/{second['id']}/move", json={'position': -1}).status_code == 422

    started = client.post(f"/api/jobs/{first['id']}/start").json()
    assert started['state'] == 'running'
    status = client.get('/api/status').json()
    assert status['job'] == first['id'] and status['phase'] in ('starting', 'running')
    assert client.delete(f"/api/jobs/{first['id']}").status_code == 409  # running
    assert client.post(f"/api/jobs/{second['id']}/start").status_code == 409  # the trainer is busy
    settle(queue)
    status = client.get('/api/status').json()
    assert status['run']['outcome'] == 'finished' and status['progress']['global_step'] == 10
    assert client.get(f"/api/jobs/{first['id']}").json()['state'] == 'done'

    FakeTrainer.gate = threading.Event()  # the next run waits at each step until released
    assert client.post('/api/queue/start').json()['running'] is True
    assert client.get('/api/jobs').json()['current'] == second['id']
    client.post(f"/api/jobs/{second['id']}/stop")
    FakeTrainer.gate.set()
    settle(queue)
    FakeTrainer.gate = None
    assert client.get(f"/api/jobs/{second['id']}").json()['state'] == 'stopped'
    resumed = client.post(f"/api/jobs/{second['id']}/resume").json()
    assert resumed['resume'] is True
    settle(queue)  # the queue is running: the resumed job ran at once
    assert client.get(f"/api/jobs/{second['id']}").json()['state'] == 'done'
    assert client.post('/api/queue/pause').json()['running'] is False

    assert client.delete(f"/api/jobs/{first['id']}").json()['jobs'][0]['id'] == second['id']
    assert client.get('/api/jobs/999').status_code == 404
    refused = client.post('/api/jobs', json={'config': {'model_type': 'NOPE', 'concepts': []}})
    assert refused.status_code == 400 and "model_type: 'NOPE'" in refused.json()['detail']
    assert client.post('/api/jobs', json={'config': {'concepts': None}}).status_code == 400
    assert client.post('/api/jobs', json={'config': {'__version': 'x', 'concepts': []}}).status_code == 400


@pytest.mark.parametrize('password', [None, PASSWORD])
def test_the_description_is_served_offline(tmp_path: Path, password) -> None:
    client, _queue = client_for(tmp_path, password)
    schema = client.get('/api/openapi.json').json()
    assert {'/api/jobs', '/api/jobs/{job_id}/move', '/api/login', '/api/status'} <= set(schema['paths'])
    page = client.get('/api/docs').text
    assert '/api/docs-assets/swagger-ui-bundle.js' in page and 'cdn' not in page.lower()
    assert client.get('/api/docs-assets/swagger-ui-bundle.js').status_code == 200


def test_sample_files_are_served_from_the_run_workspace_only(tmp_path: Path, config, fake) -> None:
    from ot_nicegui.state.training_session import SampleRecord

    client, queue = client_for(tmp_path, None)
    session = queue.session
    workspace = tmp_path / 'ws'
    (workspace / 'samples').mkdir(parents=True)
    (workspace / 'samples' / 'a.png').write_bytes(b'png')
    session.workspace_root = workspace
    session.samples = [SampleRecord(1, 5, 0, 'a cat', 'samples/a.png'), SampleRecord(1, 6, 0, 'x', '../../etc/passwd')]
    listed = client.get('/api/samples').json()
    assert [s['step'] for s in listed] == [5, 6] and listed[0]['url'] == '/api/samples/0/file'
    assert client.get('/api/samples/0/file').content == b'png'
    assert client.get('/api/samples/1/file').status_code == 404
    assert client.get('/api/samples/7/file').status_code == 404
