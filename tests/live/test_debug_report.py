"""The debug report zip: config without secrets, versions, system, the last log lines."""
from __future__ import annotations

import io
import json
import logging
import zipfile

from nicegui.testing import User

from ot_nicegui.state import debug_report
from ot_nicegui.state.config_session import get_session


def open_zip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def test_the_report_holds_config_versions_system_and_log_but_no_secret(user: User, data_dir) -> None:
    await user.open('/')
    session = get_session()
    session.config.secrets.huggingface_token = 'hf_verysecrettoken123'
    session.config.base_model_name = 'models/hf_verysecrettoken123-copy'  # a secret pasted somewhere else
    session.config.learning_rate = 0.000123
    debug_report.keep_recent_log()
    logging.getLogger('ot_nicegui.test').warning('something odd with hf_verysecrettoken123 happened')
    files = open_zip(debug_report.build(session))
    assert set(files) == {'config.json', 'versions.json', 'system.json', 'run.json', 'log.txt', 'README.txt'}
    config = json.loads(files['config.json'])
    assert config['learning_rate'] == 0.000123 and 'secrets' not in config
    assert config['concepts'] == [] and config['samples'] == []  # the lists travel inline
    assert all('hf_verysecrettoken123' not in text for text in files.values())
    assert 'something odd with <secret> happened' in files['log.txt']
    versions = json.loads(files['versions.json'])
    assert versions['torch'].startswith('2.') and versions['python'].startswith('3.')
    assert json.loads(files['system.json'])['cpu_count'] >= 1


async def test_the_menu_downloads_the_report(user: User) -> None:
    await user.open('/')
    user.find(marker='menu-debug-report').click()
    await user.should_see('Debug report written')
    assert user.download.http_responses[-1].content[:2] == b'PK'
