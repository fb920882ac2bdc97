"""The Run tab's charts never break (Debian's Chromium through Playwright): with the tab open before
Start, and left and opened again while the run goes, a tiny SD 1.5 LoRA run ends with the loss
and learning-rate charts holding every step, the same points a page opened afterwards gets; the
summary's duration moves while the run goes; no page logs a console error."""
from __future__ import annotations

import re
from pathlib import Path

from deploy.harness import run_app
from live.support import build_concept, build_model, tiny_run

EPOCHS = 10  # two images, batch size 1: two steps an epoch
STEPS = EPOCHS * 2
# the x values of every trace of the shown chart titled `title` (read from plotly's own data)
TRACES_JS = ('(title) => { const plot = [...document.querySelectorAll(".js-plotly-plot")].find('
             'p => p.offsetParent !== null && p.layout && p.layout.title && p.layout.title.text === title);'
             ' return plot && plot.data ? plot.data.map(t => [...t.x]) : null; }')
STEP_RE = re.compile(r'Step (\d+) / (\d+)')


def open_run_tab(browser, url: str, errors: list[str]):
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'page: {e}'))
    page.goto(url + '/?tab=run')
    page.wait_for_selector('.js-plotly-plot', state='attached')
    return page


def traces(page, title: str) -> list[list] | None:
    return page.evaluate(TRACES_JS, title)


def wait_for_chart(page, title: str, condition: str, timeout: float = 240_000) -> None:
    """Wait until `condition` (JavaScript over `traces`, the x values of each trace) holds."""
    page.wait_for_function(f'(title) => {{ const traces = ({TRACES_JS})(title);'
                           f' return !!traces && traces.length > 0 && ({condition}); }}', arg=title, timeout=timeout)


def summary_value(name: str) -> str:
    """JavaScript for the text the run summary shows beside `name`."""
    return (f'([...document.querySelectorAll("div")].find(e => e.textContent.trim() === "{name}")'
            f'?.nextElementSibling?.textContent.trim())')


def duration(page) -> str:
    return page.get_by_text('Duration', exact=True).locator('xpath=following-sibling::*[1]').inner_text()


def step(page) -> int:
    return int(STEP_RE.search(page.get_by_text(STEP_RE).inner_text()).group(1))


def dark(page) -> bool:
    return page.evaluate("document.body.classList.contains('body--dark')")


def test_run_charts_hold_every_step_through_tab_switches(tmp_path: Path, pw_browser) -> None:
    from modules.config.files import atomic_write_json
    from modules.config.train_config import TrainConfig

    data = tmp_path / 'data'
    data.mkdir()
    model = build_model(tmp_path / 'model')
    concept = build_concept(tmp_path / 'concept')
    config = TrainConfig.default_values()
    tiny_run(config, data, model, concept, epochs=EPOCHS)
    atomic_write_json(data / 'run.json', config.to_settings_dict(secrets=False))
    errors: list[str] = []
    with run_app(tmp_path, '--config', str(data / 'run.json')) as app:
        page = open_run_tab(pw_browser, app.url, errors)
        page.get_by_role('button', name='Start training').click()

        # the summary's duration moves on while the run goes (no phase change meanwhile)
        page.wait_for_function(f'() => {summary_value("State")} === "running"', timeout=240_000)
        first = duration(page)
        page.wait_for_function(f'(first) => {summary_value("State")} === "running"'
                               f' && {summary_value("Duration")} !== first', arg=first, timeout=30_000)
        wait_for_chart(page, 'Loss', 'traces[0].length >= 2')
        wait_for_chart(page, 'Learning rate', 'traces[0].length >= 2')

        # away from the Run tab while the run goes on, then back
        page.get_by_role('tab', name='General').click()
        away = step(page)
        page.wait_for_function(f'() => {{ const m = /Step (\\d+) \\//.exec(document.body.innerText);'
                               f' return m && (Number(m[1]) >= {away + 2} || document.body.innerText.includes('
                               f'"Training finished")); }}', timeout=240_000)
        page.get_by_role('tab', name='Run').click()
        # and the other theme for the rest of the run
        was_dark = dark(page)
        page.locator('[aria-label^="Switch to"]').click()
        page.wait_for_function(f"document.body.classList.contains('body--dark') === {str(not was_dark).lower()}")

        page.get_by_text('Training finished').first.wait_for(timeout=300_000)
        for title in ('Loss', 'Learning rate'):
            wait_for_chart(page, title, f'traces.every(xs => xs.length && xs[xs.length - 1] === {STEPS - 1})',
                           timeout=60_000)

        # a page opened now is sent the whole run: the live page shows the same points
        fresh = open_run_tab(pw_browser, app.url, errors)
        for title in ('Loss', 'Learning rate'):
            wait_for_chart(fresh, title, f'traces.every(xs => xs[xs.length - 1] === {STEPS - 1})', timeout=60_000)
            assert traces(page, title) == traces(fresh, title)
            assert all(xs == list(range(STEPS)) for xs in traces(page, title)), traces(page, title)
        assert duration(page) == duration(fresh)
        fresh.context.close()
        page.context.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]
