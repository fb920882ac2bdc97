"""The real page in Chromium: every tab, editing, saving a preset, reload, themes, screenshots."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / 'test-artifacts' / 'screenshots'
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--no-first-run']
TABS = {'general': 'General', 'model': 'Model', 'data': 'Data', 'concepts': 'Concepts', 'training': 'Training',
        'sampling': 'Sampling', 'backup': 'Backup', 'tools': 'Tools', 'additional_embeddings': 'Additional Embeddings',
        'cloud': 'Cloud', 'help': 'Help'}
SELECTED_TAB = "document.querySelector('.ot-tabs .q-tab--active')?.innerText.trim().toLowerCase()"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason='chromium is not installed')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp('data')
    port = _free_port()
    log = data / 'server.log'
    # NiceGUI ignores the port when it believes it runs under pytest
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    with open(log, 'w') as out:
        process = subprocess.Popen([sys.executable, '-m', 'ot_nicegui', '--port', str(port), '--data-dir', str(data)],
                                   cwd=data, env={**env, 'PYTHONPATH': str(REPO_ROOT)}, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f'{url}/ot-static/app.css', timeout=5)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-3000:])
            time.sleep(0.2)
        yield url, data
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope='module')
def screenshots() -> Path:
    """The screenshot folder, emptied first: what a test finds there, this run wrote."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def _assert_screenshots(folder: Path, names: set[str], width: int) -> None:
    assert {p.name for p in folder.glob('*.png')} >= names
    for name in names:
        with Image.open(folder / name) as image:
            assert image.format == 'PNG' and image.width == width, name


def _open(pw_browser, url: str, errors: list[str], width: int = 1400):
    page = pw_browser.new_page(viewport={'width': width, 'height': 900})
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_role('tab', name='General').wait_for()
    page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    return page


def test_tabs_edit_save_reload(server, pw_browser, screenshots) -> None:
    url, data = server
    errors: list[str] = []
    page = _open(pw_browser, url, errors)
    for theme in ('light', 'dark'):
        if (theme == 'dark') != page.evaluate("document.body.classList.contains('body--dark')"):
            page.locator('[aria-label^="Switch to"]').click()
            page.wait_for_function(f"document.body.classList.contains('body--dark') === {str(theme == 'dark').lower()}")
        for key, label in TABS.items():
            page.get_by_role('tab', name=label, exact=True).click()
            page.wait_for_timeout(150)
            page.screenshot(path=str(screenshots / f'{key}-{theme}.png'), full_page=True, animations='disabled')
    _assert_screenshots(screenshots, {f'{key}-{theme}.png' for key in TABS for theme in ('light', 'dark')}, 1400)

    page.get_by_role('tab', name='Training').click()
    page.get_by_label('Epochs').fill('12')
    page.get_by_role('tab', name='Backup').click()
    page.get_by_label('Save filename prefix').fill('browser-run')
    page.get_by_label('Save as a new preset').click()
    page.get_by_label('Name', exact=True).fill('from browser')
    page.get_by_role('button', name='Save', exact=True).click()
    page.get_by_text('Saved preset "from browser"').first.wait_for()
    assert (data / 'training_presets' / 'user' / 'from browser.json').exists()

    page.reload()
    page.get_by_role('tab', name='Backup').click()
    assert page.get_by_label('Save filename prefix').input_value() == 'browser-run'
    page.get_by_role('tab', name='Training').click()
    assert page.get_by_label('Epochs').input_value() == '12'
    assert 'from browser' in ' '.join(page.locator('.q-btn').all_inner_texts())

    # arrow keys move between tabs
    page.get_by_role('tab', name='Training').focus()
    page.keyboard.press('ArrowRight')
    page.wait_for_function(f"{SELECTED_TAB} !== 'training'")
    page.keyboard.press('Home')
    page.wait_for_function(f"{SELECTED_TAB} === 'general'")
    page.close()
    assert not errors, errors


def test_phone_width_and_search(server, pw_browser, screenshots) -> None:
    url, _data = server
    errors: list[str] = []
    page = _open(pw_browser, url, errors, width=390)
    page.get_by_label('Search settings').fill('rolling backup count')
    page.get_by_text('Rolling backup count').first.click()
    page.wait_for_function("document.activeElement && document.activeElement.getAttribute('aria-label') === 'Rolling backup count'")
    page.screenshot(path=str(screenshots / 'phone-search.png'), full_page=False)
    _assert_screenshots(screenshots, {'phone-search.png'}, 390)
    width = page.evaluate('document.documentElement.scrollWidth')
    assert width <= 400, f'the page scrolls sideways at phone width ({width}px)'
    page.close()
    assert not errors, errors
