"""Screenshots of every tab in both themes for the docs (re-run after UI changes).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts the app on a free port with an empty data folder in a temporary directory, opens each tab
in Chromium (Debian's, as the tests use it) at 1280×800, light then dark, and writes
`<tab>-<theme>.jpg` plus `docs/screenshots.md`, the page that shows them.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage']
VIEWPORT = {'width': 1280, 'height': 800}


def _chromium() -> str:
    for candidate in ('/usr/bin/chromium', '/usr/bin/chromium-browser'):
        if Path(candidate).exists():
            return candidate
    raise SystemExit('Chromium is not installed (tests/setup_system.sh installs it)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f'the app exited with {process.returncode}')
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f'{url} did not answer')


def _tabs() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    from modules.config.train_config import TrainConfig
    from ot_nicegui.app import visible_tabs

    config = TrainConfig.default_values()
    keys = [(t.key, t.label) for t in visible_tabs(config)]
    from modules.config.enums import TrainingMethod  # the LoRA tab shows for LoRA configs only

    config.training_method = TrainingMethod.LORA
    keys += [(t.key, t.label) for t in visible_tabs(config) if (t.key, t.label) not in keys]
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=str(ROOT / 'docs' / 'screenshots'))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob('*.jpg'):
        old.unlink()
    from playwright.sync_api import sync_playwright

    tabs = _tabs()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in ('PYTEST_CURRENT_TEST', 'OT_PASSWORD')}
        env.update(OT_DATA_DIR=str(Path(tmp) / 'data'), NICEGUI_STORAGE_PATH=str(Path(tmp) / 'storage'))
        app = subprocess.Popen([sys.executable, '-m', 'ot_nicegui', '--port', str(port),
                                '--config', '#SD 1.5 LoRA'], cwd=tmp, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f'http://127.0.0.1:{port}'
        errors: list[str] = []
        try:
            _wait(url + '/', app)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.on('pageerror', lambda e: errors.append(str(e)))
                page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
                for theme in ('light', 'dark'):
                    for key, _label in tabs:
                        page.goto(f'{url}/?tab={key}')
                        page.wait_for_load_state('networkidle')
                        if theme == 'dark' and not page.evaluate("document.body.classList.contains('body--dark')"):
                            page.get_by_role('button', name='Switch to dark theme').click()
                        page.wait_for_timeout(700)
                        page.screenshot(path=str(out / f'{key}-{theme}.jpg'), type='jpeg', quality=70)
                browser.close()
        finally:
            app.terminate()
            app.wait(15)
    rows = '\n'.join(f'| {label} | ![{label}, light]({out.name}/{key}-light.jpg) | '
                     f'![{label}, dark]({out.name}/{key}-dark.jpg) |' for key, label in tabs)
    page_md = out.parent / 'screenshots.md'
    page_md.write_text('# Screenshots\n\nEvery tab in the light and the dark theme (1280×800), made by '
                       '`scripts/screenshots.py`.\n\n| tab | light | dark |\n|---|---|---|\n' + rows + '\n')
    print(f'{len(tabs) * 2} screenshots in {out}; page {page_md}')
    if errors:
        print('console errors:', *errors, sep='\n  ')
        raise SystemExit(1)


if __name__ == '__main__':
    main()
