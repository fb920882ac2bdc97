"""Live training in a real browser (Debian's Chromium through Playwright): a tiny SD 1.5 LoRA run
started from the page; chart points and a sample arrive, a reload shows the same run, five more
browsers follow along (one with the Run tab hidden for a while, one that loses its connection
for a while: both catch up; one watches the Performance tab's chart grow meanwhile, then the
Run tab's again), and no page logs a console error."""
from __future__ import annotations

import re
import time
from pathlib import Path

from deploy.harness import ARTIFACTS, run_app
from live.support import build_concept, build_model, tiny_run

# points of the first trace of the fullest chart on the page, read from plotly's own data
POINTS_JS = ('Math.max(0, ...[...document.querySelectorAll(".js-plotly-plot")]'
             '.map(p => (p.data && p.data[0] && p.data[0].x) ? p.data[0].x.length : 0))')
SAMPLE_JS = ('[...document.images].filter(i => i.src.includes("/run-files/") && i.complete'
             ' && i.naturalWidth > 0).length')
CONNECTION_JS = "document.getElementById('ot-connection')?.dataset.state"
# points of the first trace of the shown chart titled `title`
CHART_POINTS_JS = ('(title) => { const plot = [...document.querySelectorAll(".js-plotly-plot")].find('
                   'p => p.offsetParent !== null && p.layout && p.layout.title && p.layout.title.text === title);'
                   ' return plot && plot.data && plot.data[0] ? plot.data[0].x.length : 0; }')
STEP_RE = re.compile(r'Step (\d+) / (\d+)')
EPOCH_RE = re.compile(r'Epoch (\d+) / (\d+)')


def open_run_page(browser, url: str, errors: list[str]):
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'page: {e}'))
    page.goto(url + '/?tab=run')
    return page


def points(page) -> int:
    return int(page.evaluate(POINTS_JS))


def position(page) -> tuple[int, int]:
    """(epoch, step in the epoch) as the bottom bar shows them."""
    epoch = EPOCH_RE.search(page.get_by_text(EPOCH_RE).inner_text())
    step = STEP_RE.search(page.get_by_text(STEP_RE).inner_text())
    return int(epoch.group(1)), int(step.group(1))


def test_live_training_in_the_browser(tmp_path: Path, pw_browser) -> None:
    from modules.config.files import atomic_write_json
    from modules.config.train_config import TrainConfig

    data = tmp_path / 'data'
    data.mkdir()
    model = build_model(tmp_path / 'model')
    concept = build_concept(tmp_path / 'concept')
    config = TrainConfig.default_values()
    tiny_run(config, data, model, concept, epochs=1000, sample_every=4)
    atomic_write_json(data / 'run.json', config.to_settings_dict(secrets=False))
    errors: list[str] = []
    with run_app(tmp_path, '--config', str(data / 'run.json')) as app:
        page = open_run_page(pw_browser, app.url, errors)
        page.get_by_role('button', name='Start training').click()
        page.wait_for_function(f'{POINTS_JS} >= 3', timeout=240_000)
        page.wait_for_function(f'{SAMPLE_JS} >= 1', timeout=240_000)

        before_points = points(page)
        before = position(page)
        page.reload()
        page.wait_for_function(f'{POINTS_JS} >= {before_points}', timeout=60_000)
        page.wait_for_function(f'{SAMPLE_JS} >= 1', timeout=60_000)
        assert position(page) >= before

        followers = [open_run_page(pw_browser, app.url, errors) for _ in range(5)]
        for follower in followers:
            follower.wait_for_function(f'{POINTS_JS} >= 1', timeout=60_000)
        start = [points(f) for f in followers]
        deadline = time.monotonic() + 180
        while not all(points(f) >= s + 2 for f, s in zip(followers, start, strict=True)):
            assert time.monotonic() < deadline, 'not every browser received new points'
            followers[0].wait_for_timeout(500)

        # a Run tab that was hidden catches up when opened
        hidden = followers[1]
        hidden.get_by_role('tab', name='General').click()
        hidden.wait_for_timeout(2000)
        shown_at = points(page)
        hidden.get_by_role('tab', name='Run').click()
        hidden.wait_for_function(f'{POINTS_JS} >= {shown_at}', timeout=60_000)

        # a page that lost its connection for a while gets what it missed, then follows again
        dropped = followers[2]
        dropped.context.set_offline(True)
        dropped.wait_for_function(f"{CONNECTION_JS} !== 'online'", timeout=30_000)
        dropped.wait_for_timeout(1500)
        dropped.context.set_offline(False)
        dropped.wait_for_function(f"{CONNECTION_JS} === 'online'", timeout=30_000)
        back_at = points(page)
        dropped.wait_for_function(f'{POINTS_JS} >= {back_at + 2}', timeout=60_000)

        # the Performance tab's chart grows a reading at a time while the run's charts go on
        watcher = followers[3]
        watcher.get_by_role('tab', name='Performance').click()
        watcher.wait_for_function(f'({CHART_POINTS_JS})("CPU and RAM") >= 1', timeout=60_000)
        readings = watcher.evaluate(CHART_POINTS_JS, 'CPU and RAM')
        watcher.wait_for_function(f'({CHART_POINTS_JS})("CPU and RAM") >= {readings + 2}', timeout=60_000)
        watcher.get_by_role('tab', name='Run').click()
        loss_points = watcher.evaluate(CHART_POINTS_JS, 'Loss')
        watcher.wait_for_function(f'({CHART_POINTS_JS})("Loss") >= {loss_points + 2}', timeout=60_000)

        ARTIFACTS.mkdir(exist_ok=True)
        followers[0].screenshot(path=str(ARTIFACTS / 'live-training-follower.png'))  # the bottom bar too
        page.get_by_role('button', name='Stop').click()
        page.get_by_text('Training stopped').first.wait_for(timeout=240_000)
        for follower in followers:
            follower.get_by_text('Stopped', exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / 'live-training-run.png'), full_page=True)
        for follower in followers:
            follower.context.close()
        page.context.close()
        log = app.output()
    # the page taken offline logs its failed reconnection attempts; nothing else may fail
    errors = [e for e in errors if 'ERR_INTERNET_DISCONNECTED' not in e]
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]
