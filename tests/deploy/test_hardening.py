"""Paths from the browser stay inside their folders; secrets stay out of exports; no shell.

Traversal attempts tried here (each must fail without revealing anything):
- file routes (sample images at /run-files/...): `../`, percent-encoded `%2e%2e%2f` and `..%2f`,
  doubled `....//`, absolute `//etc/passwd` and `%2Fetc%2Fpasswd`, backslashes, a NUL byte, a
  symlink inside the root pointing out of it, hidden files, files of another type;
- static assets: `/ot-static/../auth.py` in plain and encoded spellings;
- help pages: `../README`, `../../pyproject`, absolute paths, encoded dots, backslashes;
- preset names: `../x`, `a/b`, `..`, `/tmp/x`, `~/x`, `C:x`, `a\\b`, NUL and control characters;
- file pickers: '..' above a root, a symlink out of a root, absolute paths elsewhere.
"""
from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

import pytest

from deploy.harness import REPO_ROOT, run_app
from modules.config.base import ConfigError
from modules.config.files import save_secrets
from modules.config.presets import PresetStore
from modules.config.secrets_config import SecretsConfig
from modules.config.train_config import TrainConfig
from ot_nicegui.security import BrowseRoots, contained_file

TOKEN = 'hf_HARDENING_0123456789abcdef'
SENTINEL = 'SENTINEL-OUTSIDE-THE-ROOT'


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """GET with the request target sent exactly as written (HTTP clients normalise '..')."""
    with socket.create_connection(('127.0.0.1', port), timeout=10) as conn:
        conn.sendall(f'GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode('latin-1'))
        data = b''
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    return int(head.split()[1]), body


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('hardening')
    data = tmp / 'data'
    samples = data / 'workspace' / 'run' / 'samples'
    samples.mkdir(parents=True)
    (samples / 'ok.png').write_bytes(b'\x89PNG-fake-sample')
    (samples / '.hidden.png').write_text(SENTINEL)
    (samples / 'notes.txt').write_text(SENTINEL)
    (data / 'outside.png').write_text(SENTINEL)
    (samples / 'link.png').symlink_to(data / 'outside.png')
    secrets = SecretsConfig.default_values()
    secrets.huggingface_token = TOKEN
    save_secrets(data / 'secrets.json', secrets)
    with run_app(tmp) as app:
        yield app


FILE_ROUTE_ATTEMPTS = [
    '/run-files/../../secrets.json', '/run-files/samples/../../../outside.png',
    '/run-files/%2e%2e/%2e%2e/secrets.json', '/run-files/..%2f..%2fsecrets.json', '/run-files/..%2F..%2Foutside.png',
    '/run-files/....//....//secrets.json', '/run-files//etc/passwd', '/run-files/%2Fetc%2Fpasswd',
    '/run-files/..\\..\\secrets.json', '/run-files/..%5c..%5csecrets.json', '/run-files/samples/ok.png%00.png',
    '/run-files/samples/link.png', '/run-files/samples/.hidden.png', '/run-files/samples/notes.txt',
    '/run-files/samples/%2e%2e/%2e%2e/%2e%2e/outside.png',
]
STATIC_ATTEMPTS = ['/ot-static/../auth.py', '/ot-static/%2e%2e/auth.py', '/ot-static/..%2fauth.py',
                   '/ot-static/..%2f..%2fpyproject.toml', '/ot-static//etc/passwd']


def test_file_routes_serve_inside_and_refuse_every_escape(served):
    status, body = raw_get(served.port, '/run-files/samples/ok.png')
    assert status == 200 and body == b'\x89PNG-fake-sample'  # the route works, so refusals mean something
    for target in FILE_ROUTE_ATTEMPTS + STATIC_ATTEMPTS:
        status, body = raw_get(served.port, target)
        assert status in (400, 404), (target, status)
        for leaked in (SENTINEL.encode(), TOKEN.encode(), b'root:x:0:0', b'[build-system]', b'def install('):
            assert leaked not in body, target


def test_help_page_names_cannot_leave_the_docs_folder(tmp_path):
    from ot_nicegui.help_pages import read_page

    docs = tmp_path / 'docs'
    docs.mkdir()
    (docs / 'index.md').write_text('# Index\n')
    (tmp_path / 'README.md').write_text(SENTINEL)
    assert read_page('index', docs) == '# Index\n'
    for name in ('../README', '..', '../../README', str(tmp_path / 'README'), '%2e%2e/README', '..\\README',
                 'index/../../README', 'README', '/etc/passwd', ''):
        assert read_page(name, docs) is None, name


def test_help_page_request_with_traversal_shows_no_foreign_file(served):
    status, body = raw_get(served.port, '/?tab=help&doc=..%2F..%2Fpyproject')
    assert status == 200 and b'[build-system]' not in body and SENTINEL.encode() not in body


@pytest.mark.parametrize('name', ['../x', 'a/b', '..', '/tmp/x', '~/x', 'C:x', 'a\\b', 'a\x00b', 'a\nb', '.', ''])
def test_preset_names_cannot_leave_the_preset_folder(tmp_path, name):
    store = PresetStore(tmp_path / 'presets')
    with pytest.raises(ConfigError):
        store.save(name, TrainConfig.default_values())
    with pytest.raises(ConfigError):
        store.load(name)
    assert not any(p.is_file() for p in tmp_path.rglob('*'))


def test_contained_file_refuses_escapes(tmp_path):
    root = tmp_path / 'root'
    (root / 'sub').mkdir(parents=True)
    (root / 'sub' / 'a.png').write_bytes(b'x')
    (tmp_path / 'out.png').write_bytes(b'x')
    (root / 'escape.png').symlink_to(tmp_path / 'out.png')
    assert contained_file(root, 'sub/a.png') == (root / 'sub' / 'a.png').resolve()
    assert contained_file(root, 'sub/a.png', {'.jpg'}) is None
    for relative in ('../out.png', 'sub/../../out.png', str(tmp_path / 'out.png'), 'escape.png', 'sub\\..\\..\\out.png',
                     'sub/a.png\x00', '.', 'sub', 'missing.png', None):
        assert contained_file(root, relative) is None, relative


def test_file_picker_roots_stop_at_their_top(tmp_path):
    root = tmp_path / 'root'
    (root / 'a' / 'b').mkdir(parents=True)
    (tmp_path / 'elsewhere').mkdir()
    (root / 'out').symlink_to(tmp_path / 'elsewhere')
    roots = BrowseRoots([root])
    assert roots.parent(root / 'a' / 'b') == (root / 'a').resolve()
    assert roots.parent(root) == root.resolve()  # the top has no way up
    assert roots.parent(root / 'a' / '..' / '..') == root.resolve()
    for outside in (tmp_path, tmp_path / 'elsewhere', root / 'out', root / '..', Path('/etc')):
        assert not roots.contains(outside), outside
        assert roots.clamp(outside) == root.resolve()
    assert roots.contains(root / 'a' / 'b')


def test_browse_roots_from_the_environment(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv('OT_BROWSE_ROOTS', os.pathsep.join([str(tmp_path / 'x'), str(tmp_path / 'y')]))
    assert BrowseRoots.from_environment().roots == [(tmp_path / 'x').resolve(), (tmp_path / 'y').resolve()]


def test_secrets_stay_out_of_exports_presets_and_the_last_session(tmp_path):
    from ot_nicegui.state.config_session import ConfigSession

    data = tmp_path / 'data'
    data.mkdir()
    session = ConfigSession(data, builtin_presets=tmp_path / 'builtin')
    session.config.secrets.huggingface_token = TOKEN
    session.config.secrets.cloud.password = 'cloud-' + TOKEN
    assert TOKEN not in json.dumps(session.export_pack())
    assert TOKEN not in json.dumps(session.config.to_settings_dict())
    session.save_preset('mine')
    session.flush()
    written = {p: p.read_text() for p in data.rglob('*.json')}
    assert TOKEN in written.pop(data / 'secrets.json')  # the one place it belongs
    assert (data / 'secrets.json').stat().st_mode & 0o077 == 0
    assert written and not [p for p, text in written.items() if TOKEN in text]


SHELL_CALLS = {('os', 'system'), ('os', 'popen'), ('subprocess', 'getoutput'), ('subprocess', 'getstatusoutput')}
SUBPROCESS_CALLS = {'run', 'Popen', 'call', 'check_call', 'check_output'}


def test_no_user_input_reaches_a_shell():
    """Every process is started from an argument list: no `shell=True`, no os.system/popen, no
    command assembled as one string."""
    problems = []
    for path in [*(REPO_ROOT / 'modules').rglob('*.py'), *(REPO_ROOT / 'ot_nicegui').rglob('*.py')]:
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ''
            where = f'{path.relative_to(REPO_ROOT)}:{node.lineno}'
            if (owner, node.func.attr) in SHELL_CALLS:
                problems.append(f'{where} {owner}.{node.func.attr}')
            if owner == 'subprocess' and node.func.attr in SUBPROCESS_CALLS:
                if any(k.arg == 'shell' and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                       for k in node.keywords):
                    problems.append(f'{where} shell=')
                if node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp)) or \
                        node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    problems.append(f'{where} command as one string')
    assert not problems, problems
