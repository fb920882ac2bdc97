"""Start the app, nginx and Xvfb as real processes for the deployment tests; stop them by PID."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / 'test-artifacts'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--no-first-run']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def chromium_path() -> str | None:
    return os.environ.get('CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser')


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a server under test: no pytest marker (NiceGUI would ignore the port),
    no password inherited from the caller."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYTEST_CURRENT_TEST', 'OT_PASSWORD')}
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get('PYTHONPATH')]))
    env.update(extra)
    return env


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, group: bool = False) -> None:
    if process.poll() is not None:
        return
    (os.killpg if group else os.kill)(process.pid, sig)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
        process.wait(5)


@dataclass
class App:
    url: str
    port: int
    process: subprocess.Popen
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors='replace')


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'server exited with {process.returncode}:\n{log.read_text(errors="replace")[-3000:]}')
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1, verify=False)
            return
        time.sleep(0.1)
    raise TimeoutError(f'{url} did not answer:\n{log.read_text(errors="replace")[-3000:]}')


@contextlib.contextmanager
def run_app(tmp: Path, *args: str, env: dict[str, str] | None = None, wait: bool = True,
            group: bool = False) -> Iterator[App]:
    """`python -m ot_nicegui --port P ARGS` with its data and NiceGUI storage under `tmp`."""
    port = free_port()
    data_dir = tmp / 'data'
    data_dir.mkdir(parents=True, exist_ok=True)
    log = tmp / f'app-{port}.log'
    environment = child_env(OT_DATA_DIR=str(data_dir), NICEGUI_STORAGE_PATH=str(tmp / 'nicegui-storage'),
                            **(env or {}))
    with log.open('w') as out:
        process = subprocess.Popen([sys.executable, '-m', 'ot_nicegui', '--port', str(port), *args],
                                   cwd=tmp, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=group)
    app = App(f'http://127.0.0.1:{port}', port, process, data_dir, log)
    try:
        if wait:
            wait_for_http(app.url + '/login', process, log)
        yield app
    finally:
        stop(process, group=group)


NGINX_CONF = '''\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
{site}
}}
'''


def documented_site(http_port: int, https_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The nginx configuration from docs/remote.md, pointed at test ports and a test certificate."""
    text = (REPO_ROOT / 'docs' / 'remote.md').read_text(encoding='utf-8')
    match = re.search(r'```nginx\n(.*?)```', text, re.S)
    assert match, 'docs/remote.md has no nginx block'
    site = match.group(1)
    replacements = [
        (r'listen 80;', f'listen 127.0.0.1:{http_port};'),
        (r'listen 443 ssl', f'listen 127.0.0.1:{https_port} ssl'),
        (r'ssl_certificate\s+\S+;', f'ssl_certificate {cert};'),
        (r'ssl_certificate_key\s+\S+;', f'ssl_certificate_key {key};'),
        (r'proxy_pass http://127\.0\.0\.1:8080/;', f'proxy_pass http://127.0.0.1:{app_port}/;'),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count == 1, f'docs/remote.md: expected one "{pattern}"'
    return site


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / 'cert.pem', folder / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-keyout', str(key), '-out', str(cert)], check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def run_nginx(tmp: Path, app_port: int) -> Iterator[str]:
    """nginx with the documented configuration (TLS, /trainer/) in front of the app; yields the
    HTTPS base URL."""
    root = tmp / 'nginx'
    (root / 'tmp').mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(root)
    https_port = free_port()
    conf = root / 'nginx.conf'
    conf.write_text(NGINX_CONF.format(root=root, site=documented_site(free_port(), https_port, app_port, cert, key)))
    process = subprocess.Popen(['nginx', '-p', str(root), '-c', str(conf), '-e', str(root / 'error.log')],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f'https://127.0.0.1:{https_port}'
    try:
        wait_for_http(base + '/trainer/login', process, root / 'error.log', timeout=20)
        yield base
    finally:
        stop(process, signal.SIGQUIT)
