"""The app behind nginx (the configuration of docs/remote.md, TLS included) under /trainer/ with a
password: redirects, login, websocket, live updates, secrets, open redirects and rate limiting,
all through the proxy."""
from __future__ import annotations

import re
import shutil
from urllib.parse import quote

import httpx
import pytest

from deploy.harness import ARTIFACTS, run_app, run_nginx
from modules.config.files import save_secrets
from modules.config.secrets_config import SecretsConfig

pytestmark = [
    pytest.mark.skipif(shutil.which('nginx') is None, reason='nginx is not installed (tests/setup_system.sh installs it)'),
    pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is needed for a test certificate'),
]

PASSWORD = 'proxy-pass-7'
TOKEN = 'hf_LEAKCHECK0123456789abcdef'
CLOUD_PASSWORD = 'cloud-pw-LEAKCHECK-42'


@pytest.fixture(scope='module')
def proxied(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('proxy')
    secrets = SecretsConfig.default_values()
    secrets.huggingface_token = TOKEN
    secrets.cloud.password = CLOUD_PASSWORD
    (tmp / 'data').mkdir()
    save_secrets(tmp / 'data' / 'secrets.json', secrets)
    with run_app(tmp, env={'OT_PASSWORD': PASSWORD}) as app, run_nginx(tmp, app.port) as base:
        yield base, app


def _login(page, base: str, path: str = '/') -> None:
    page.goto(f'{base}/trainer{path}')
    page.get_by_label('Password').fill(PASSWORD)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_url(f'{base}/trainer{path}', timeout=30_000)


def test_unauthenticated_requests_go_to_the_prefixed_login(proxied):
    base, _app = proxied
    with httpx.Client(base_url=base, follow_redirects=False, verify=False) as client:
        assert client.get('/trainer').headers['location'].endswith('/trainer/')
        response = client.get('/trainer/?tab=help')
        assert response.status_code == 303
        assert response.headers['location'] == '/trainer/login?redirect_to=%2F%3Ftab%3Dhelp'
        assert client.post('/trainer/', content=b'x').status_code == 401
        login = client.get('/trainer/login')
        assert login.status_code == 200
        assert '/trainer/_nicegui/' in login.text  # assets are fetched through the prefix
        assert client.get('/trainer/logout').headers['location'] == '/trainer/login'


def test_login_websocket_and_live_update_through_the_proxy(proxied, pw_browser):
    base, app = proxied
    context = pw_browser.new_context(viewport={'width': 1280, 'height': 900}, ignore_https_errors=True)
    sockets, frames, errors = [], [], []

    def on_socket(ws):
        sockets.append(ws.url)
        ws.on('framereceived', lambda payload: frames.append(payload))
        ws.on('framesent', lambda payload: frames.append(payload))

    context.on('page', lambda p: p.on('websocket', on_socket))
    page = context.new_page()
    page.on('websocket', on_socket)
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)

    page.goto(f'{base}/trainer/?tab=general')
    assert page.url == f'{base}/trainer/login?redirect_to=%2F%3Ftab%3Dgeneral'
    page.get_by_label('Password').fill('not-the-password')
    page.get_by_role('button', name='Log in').click()
    page.get_by_text('Wrong password.').wait_for()
    assert page.url.startswith(f'{base}/trainer/login')
    page.get_by_label('Password').fill(PASSWORD)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_url(f'{base}/trainer/?tab=general', timeout=30_000)
    workspace = page.get_by_role('textbox', name='Workspace folder', exact=True)
    workspace.wait_for(timeout=30_000)

    # the websocket is upgraded through nginx (TLS) under the prefix, not long-polling
    port = base.rsplit(':', 1)[1]
    assert any(re.match(rf'wss://127\.0\.0\.1:{port}/trainer/_nicegui_ws/socket\.io/\?.*transport=websocket', url)
               for url in sockets), sockets

    # a change made in a second tab reaches the first one as a pushed update
    other = context.new_page()
    other.goto(f'{base}/trainer/?tab=general')  # the session cookie is shared: no login again
    other_workspace = other.get_by_role('textbox', name='Workspace folder', exact=True)
    other_workspace.fill('workspace/proxied-run')
    other_workspace.press('Tab')
    page.wait_for_function(
        "() => [...document.querySelectorAll('input')].some(e => e.value === 'workspace/proxied-run')",
        timeout=15_000)

    # secrets: masked in the page, never in HTML or websocket traffic
    page.get_by_role('tab', name='Model').click()
    page.get_by_text(re.compile(r'Stored: hf_•+ef')).first.wait_for()
    page.get_by_role('tab', name='Cloud').click()
    html = page.content() + other.content() + context.request.get(f'{base}/trainer/?tab=model').text()
    traffic = ''.join(f if isinstance(f, str) else f.decode('utf-8', 'replace') for f in frames)
    assert frames and 'workspace/proxied-run' in traffic
    for secret in (TOKEN, CLOUD_PASSWORD):
        assert secret not in html
        assert secret not in traffic
        assert secret not in app.output()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / 'proxy-trainer.png'))
    assert not [e for e in errors if 'favicon' not in e], errors

    page.get_by_role('button', name='Log out').click()
    page.wait_for_url(f'{base}/trainer/login', timeout=15_000)
    other.goto(f'{base}/trainer/?tab=general')  # the whole browser session is logged out
    assert other.url.startswith(f'{base}/trainer/login?redirect_to=')
    context.close()


# each is tried as redirect_to after a successful login; the browser must stay on the app
OPEN_REDIRECTS = ['//evil.example/', '///evil.example', '/\\evil.example', 'https://evil.example/',
                  'javascript:alert(1)', '/%2F%2Fevil.example', '/\t/evil.example', 'evil.example']


def test_login_never_redirects_off_site(proxied, pw_browser):
    base, _app = proxied
    context = pw_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    # the landing page is stubbed (the redirect is what matters); an off-site hop would hit the other stub
    landed = []
    page.route(f'{base}/trainer/', lambda route: (landed.append(1), route.fulfill(body='app root')))
    page.route(re.compile(r'^[a-z]+://([^/]*\.)?evil\.example'), lambda route: route.fulfill(body='OFF SITE'))
    page.goto(f'{base}/trainer/login?redirect_to={quote(OPEN_REDIRECTS[0], safe="")}')
    page.get_by_label('Password').fill(PASSWORD)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_url(f'{base}/trainer/', timeout=30_000)
    for target in OPEN_REDIRECTS[1:]:  # logged in now: the login page forwards at once
        page.goto(f'{base}/trainer/login?redirect_to={quote(target, safe="")}')
        page.wait_for_url(f'{base}/trainer/', timeout=30_000)
        assert 'app root' in page.content()
    assert len(landed) == len(OPEN_REDIRECTS)
    context.close()


def test_login_attempts_are_rate_limited_per_address(proxied, pw_browser):
    base, _app = proxied
    context = pw_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(f'{base}/trainer/login')
    for attempt in range(5):
        page.get_by_label('Password').fill(f'guess-{attempt}')
        page.get_by_role('button', name='Log in').click()
        page.get_by_text('Wrong password.').wait_for()
        page.get_by_role('button', name='Log in').and_(page.locator(':enabled')).wait_for()
    page.get_by_label('Password').fill(PASSWORD)  # locked out: even the right password waits
    page.get_by_role('button', name='Log in').click()
    page.get_by_text(re.compile('Too many attempts')).wait_for()
    assert '/login' in page.url
    context.close()

    # a forged X-Forwarded-For does not buy a new address: nginx sends the real peer
    spoofed = pw_browser.new_context(extra_http_headers={'X-Forwarded-For': '198.51.100.7'},
                                     ignore_https_errors=True)
    page = spoofed.new_page()
    page.goto(f'{base}/trainer/login')
    page.get_by_label('Password').fill(PASSWORD)
    page.get_by_role('button', name='Log in').click()
    page.get_by_text(re.compile('Too many attempts')).wait_for()
    spoofed.close()
