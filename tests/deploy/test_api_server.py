"""The REST API in the real server: token auth beside the page login, and the queue file in the data folder."""
from __future__ import annotations

import httpx

from deploy.harness import run_app


def test_the_api_answers_with_tokens_while_pages_still_want_the_login(tmp_path) -> None:
    with run_app(tmp_path, env={'OT_PASSWORD': 'open sesame'}) as app:
        refused = httpx.get(f'{app.url}/api/jobs')
        assert refused.status_code == 401 and refused.headers['www-authenticate'] == 'Bearer'
        assert httpx.get(f'{app.url}/', follow_redirects=False).status_code == 303  # pages: to the login
        token = httpx.post(f'{app.url}/api/login', json={'password': 'open sesame'}).json()['token']
        answer = httpx.get(f'{app.url}/api/jobs', headers={'Authorization': f'Bearer {token}'})
        assert answer.status_code == 200 and answer.json()['jobs'] == []
        assert httpx.get(f'{app.url}/api/docs').status_code == 200
        assert (app.data_dir / 'jobs.sqlite3').is_file()
