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


def test_the_command_line_client_drives_the_queue(tmp_path, capsys, monkeypatch) -> None:
    import json

    from modules.config.train_config import TrainConfig
    from ot_nicegui import api_client

    config = TrainConfig.default_values()
    config.concepts, config.samples = [], []
    (tmp_path / 'run.json').write_text(json.dumps(config.to_pack_dict()))
    with run_app(tmp_path, env={'OT_PASSWORD': 'pw'}) as app:
        def client(*argv: str) -> tuple[int, str, str]:
            code = api_client.main(['--url', app.url, *argv])
            out, err = capsys.readouterr()
            return code, out.strip(), err.strip()

        code, _, err = client('jobs')
        assert code == 1 and 'API token' in err
        monkeypatch.setenv('OT_PASSWORD', 'pw')
        code, token, _ = client('login', '--name', 'ci')
        assert code == 0 and token.startswith('otk_')
        monkeypatch.setenv('OT_API_TOKEN', token)
        code, line, _ = client('add', str(tmp_path / 'run.json'), '--name', 'night run')
        assert code == 0 and 'queued' in line and 'night run' in line
        job_id = line.split()[0]
        code, listing, _ = client('jobs')
        assert listing.splitlines()[0] == 'queue paused' and 'night run' in listing
        assert client('remove', job_id)[0] == 0
        code, _, err = client('remove', job_id)
        assert code == 1 and f'404: there is no job {job_id}' in err
