"""The run page (`/run`) in Chromium: on a phone (390×844) and a desktop (1440×900), in both
themes, its key parts are on screen without scrolling and the console stays clean; with a
password it asks for the login first, also behind the nginx prefix of docs/remote.md."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deploy.harness import ARTIFACTS, run_app, run_nginx
from live.support import build_concept, build_model, tiny_run

PASSWORD = 'run-page-pass-3'
KEY_PARTS = ('[role=heading][aria-level="1"]', '.ot-run-progress', '[role=progressbar]',
             'button:has-text("Stop")', 'button:has-text("Sample now")', '.js-plotly-plot')


def watch_console(page, errors: list[str]) -> None:
    page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'page: {e}'))


def wait_until_ready(page) -> None:
    page.get_by_role('button', name='Stop').wait_for()
    page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    page.wait_for_function("document.querySelector('.js-plotly-plot .main-svg') !== null")


def test_key_parts_fit_the_screen_in_both_themes(tmp_path: Path, pw_browser) -> None:
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app:
        for width, height in ((390, 844), (1440, 900)):
            for scheme in ('light', 'dark'):
                context = pw_browser.new_context(viewport={'width': width, 'height': height}, color_scheme=scheme,
                                                 has_touch=width < 600, is_mobile=width < 600)
                page = context.new_page()
                watch_console(page, errors)
                page.goto(app.url + '/run')
                wait_until_ready(page)
                dark = page.evaluate("document.body.classList.contains('body--dark')")
                assert dark == (scheme == 'dark')
                assert page.evaluate('window.scrollY') == 0
                for selector in KEY_PARTS:
                    box = page.locator(selector).first.bounding_box()  # relative to the viewport
                    assert box and box['width'] > 0 and box['height'] > 0, selector
                    inside = (box['y'] >= 0 and box['y'] + box['height'] <= height and box['x'] >= 0
                              and box['x'] + box['width'] <= width)
                    assert inside, (selector, box, width, scheme)
                # one column without sideways scrolling, large touch targets
                assert page.evaluate('document.documentElement.scrollWidth') <= width
                for name in ('Stop', 'Sample now'):
                    button = page.get_by_role('button', name=name)
                    assert button.is_disabled()  # nothing runs
                    box = button.bounding_box()
                    assert box['height'] >= 48 and box['width'] >= 120, (name, box)
                page.screenshot(path=str(ARTIFACTS / f'run-page-{width}-{scheme}.png'), animations='disabled')
                context.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]


# points of the loss chart's first trace, read from plotly's own data
LOSS_POINTS_JS = ("(() => { const p = document.querySelector('.js-plotly-plot');"
                  " return p && p.data && p.data[0] ? p.data[0].x.length : 0; })()")
STEP_JS = "document.querySelector('.ot-run-progress').innerText.match(/Step (\\d+)/)?.[1] ?? null"


def test_a_run_followed_on_the_phone_page(tmp_path: Path, pw_browser) -> None:
    from modules.config.files import atomic_write_json
    from modules.config.train_config import TrainConfig

    data = tmp_path / 'data'
    data.mkdir()
    config = TrainConfig.default_values()
    tiny_run(config, data, build_model(tmp_path / 'model'), build_concept(tmp_path / 'concept'), epochs=1000)
    atomic_write_json(data / 'run.json', config.to_settings_dict(secrets=False))
    errors: list[str] = []
    with run_app(tmp_path, '--config', str(data / 'run.json')) as app:
        phone = pw_browser.new_context(viewport={'width': 390, 'height': 844}, has_touch=True, is_mobile=True)
        page = phone.new_page()
        watch_console(page, errors)
        page.goto(app.url + '/run')
        wait_until_ready(page)
        stop, sample = page.get_by_role('button', name='Stop'), page.get_by_role('button', name='Sample now')
        assert stop.is_disabled() and sample.is_disabled()

        desktop = pw_browser.new_context(viewport={'width': 1440, 'height': 900})
        main = desktop.new_page()
        watch_console(main, errors)
        main.goto(app.url + '/')
        main.get_by_role('button', name='Start training').click()

        expect = pytest.importorskip('playwright.sync_api').expect
        expect(sample).to_be_enabled(timeout=240_000)  # running: both buttons work
        expect(stop).to_be_enabled()
        page.wait_for_function(f'{LOSS_POINTS_JS} >= 2', timeout=240_000)
        first = int(page.evaluate(STEP_JS) or 0)
        page.wait_for_function(f'Number({STEP_JS}) !== {first}', timeout=240_000)  # the progress moves
        sample.click()
        page.wait_for_function("[...document.images].some(i => i.src.includes('/run-files/') && i.complete"
                               " && i.naturalWidth > 0)", timeout=240_000)
        page.screenshot(path=str(ARTIFACTS / 'run-page-390-running.png'))
        stop.click()
        page.get_by_text('Stopped', exact=True).wait_for(timeout=240_000)
        assert stop.is_disabled() and sample.is_disabled()
        phone.close()
        desktop.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]


@pytest.mark.skipif(shutil.which('nginx') is None or shutil.which('openssl') is None,
                    reason='nginx and openssl are needed (tests/setup_system.sh installs them)')
def test_the_run_page_asks_for_the_login_also_behind_the_proxy(tmp_path: Path, pw_browser) -> None:
    import httpx

    errors: list[str] = []
    with run_app(tmp_path, env={'OT_PASSWORD': PASSWORD}) as app, run_nginx(tmp_path, app.port) as base:
        with httpx.Client(follow_redirects=False, verify=False) as client:
            direct = client.get(app.url + '/run')
            assert direct.status_code == 303 and direct.headers['location'] == '/login?redirect_to=%2Frun'
            proxied = client.get(base + '/trainer/run')
            assert proxied.status_code == 303
            assert proxied.headers['location'] == '/trainer/login?redirect_to=%2Frun'
        context = pw_browser.new_context(viewport={'width': 390, 'height': 844}, ignore_https_errors=True)
        page = context.new_page()
        watch_console(page, errors)
        page.goto(base + '/trainer/run')
        page.get_by_label('Password').fill(PASSWORD)
        page.get_by_role('button', name='Log in').click()
        page.wait_for_url(base + '/trainer/run', timeout=30_000)
        wait_until_ready(page)
        # the way back to the main page keeps the prefix
        page.get_by_role('button', name='Settings').click()
        page.wait_for_url(base + '/trainer/?tab=run', timeout=30_000)
        page.get_by_role('tab', name='Run').wait_for()
        context.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]
