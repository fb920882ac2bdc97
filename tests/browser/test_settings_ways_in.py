"""The settings dialogs' ways in, units and the Start problems in Chromium, on a phone (390×844)
and a desktop (1440×900), in both themes, with a clean console: the "…" buttons of the Training
tab open the scheduler and timestep dialogs (with its histogram drawn), the Tools tab opens
Profiling, a unit shows beside its number, and a problem at Start leads to its field."""
from __future__ import annotations

from pathlib import Path

import pytest
from deploy.harness import ARTIFACTS, run_app

SELECTED_TAB = "document.querySelector('.ot-tabs .q-tab--active')?.innerText.trim().toLowerCase()"


def close_dialog(page) -> None:
    page.locator('.q-dialog').get_by_role('button', name='OK').click()
    page.locator('.q-dialog').wait_for(state='detached')


@pytest.mark.parametrize(('width', 'height'), [(390, 844), (1440, 900)])
def test_dialogs_units_and_start_problems(tmp_path: Path, pw_browser, width: int, height: int) -> None:
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app:
        for scheme in ('light', 'dark'):
            context = pw_browser.new_context(viewport={'width': width, 'height': height}, color_scheme=scheme)
            page = context.new_page()
            page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(f'page: {e}'))
            page.goto(app.url + '/?tab=training')
            page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == 'dark')

            page.get_by_role('button', name='Scheduler settings').click()
            page.locator('.q-dialog').get_by_text('Learning rate scheduler').first.wait_for()
            close_dialog(page)
            page.get_by_role('button', name='Timestep distribution settings').click()
            page.wait_for_function("document.querySelector('.q-dialog .js-plotly-plot .main-svg') !== null")
            page.screenshot(path=str(ARTIFACTS / f'timestep-dialog-{width}-{scheme}.png'))
            close_dialog(page)

            page.get_by_role('tab', name='Tools').click()
            page.get_by_role('button', name='Open Profiling').click()
            page.locator('.q-dialog').get_by_text('Memory (MiB)').wait_for()
            close_dialog(page)

            page.get_by_role('tab', name='Cloud').click()
            volume = page.get_by_role('textbox', name='Volume size')
            volume.wait_for()
            field = page.locator('.q-field', has=volume)
            assert field.locator('.q-field__suffix').inner_text() == 'GB'

            page.get_by_role('button', name='Start training').click()
            problems = page.locator('.q-dialog')
            problems.get_by_text('Training cannot start').wait_for()
            texts = problems.locator('.q-card').inner_text()
            assert 'Concepts: no enabled concept' in texts and 'concepts[' not in texts
            page.screenshot(path=str(ARTIFACTS / f'start-problems-{width}-{scheme}.png'))
            problems.get_by_role('button', name='Go to Concepts', exact=True).click()
            page.wait_for_function(f"{SELECTED_TAB} === 'concepts'")
            context.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]
