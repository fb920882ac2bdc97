"""Live charts in a real browser (Debian's Chromium through Playwright): every chart grows the same
way, from the live feed's chart streams. A stream that keeps a window of points keeps the page's
chart to that window, through a reload and a lost connection; the Performance tab's chart grows
a reading at a time; a TensorBoard chart that follows its event files grows with them. No page
logs a console error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploy.harness import child_env, free_port, run_app, stop, wait_for_http
from live.support import write_run

HERE = Path(__file__).resolve().parent
# the points of each trace of the shown chart whose title is `title` (read from plotly's own data)
TRACES_JS = ('(title) => { const plot = [...document.querySelectorAll(".js-plotly-plot")].find('
             'p => p.offsetParent !== null && p.layout && p.layout.title && p.layout.title.text === title);'
             ' return plot && plot.data ? plot.data.map(t => [...t.x]) : null; }')
WINDOW = 5  # points the stream of stream_app.py keeps
PERIOD = 0.2  # seconds between two of its points


def open_page(browser, url: str, errors: list[str]):
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'page: {e}'))
    page.goto(url)
    return page


def traces(page, title: str) -> list[list] | None:
    return page.evaluate(TRACES_JS, title)


def wait_for_points(page, title: str, condition: str, timeout: float = 60_000) -> None:
    """Wait until `condition` (JavaScript over `xs`, the chart's first trace) holds."""
    page.wait_for_function(f'(title) => {{ const data = ({TRACES_JS})(title); if (!data || !data.length) return false;'
                           f' const xs = data[0]; return {condition}; }}', arg=title, timeout=timeout)


def test_a_window_stream_keeps_the_chart_to_its_last_points(tmp_path: Path, pw_browser) -> None:
    port = free_port()
    log = tmp_path / 'app.log'
    with log.open('w') as out:
        process = subprocess.Popen([sys.executable, str(HERE / 'stream_app.py'), str(port), str(WINDOW), str(PERIOD)],
                                   cwd=tmp_path, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    errors: list[str] = []
    try:
        url = f'http://127.0.0.1:{port}'
        wait_for_http(url, process, log)
        page = open_page(pw_browser, url, errors)

        def check(after: int) -> None:
            # the last WINDOW points, in order, none missing, none twice: the window moved on
            wait_for_points(page, 'window', f'xs.length === {WINDOW} && xs[0] > {after}')
            xs, = traces(page, 'window')
            assert len(xs) == WINDOW and xs == list(range(xs[0], xs[0] + WINDOW)), xs

        check(WINDOW)
        xs, = traces(page, 'window')
        check(xs[-1] + 2)  # still moving
        page.reload()
        check(xs[-1] + 4)
        xs, = traces(page, 'window')
        page.context.set_offline(True)
        page.wait_for_timeout(int(WINDOW * PERIOD * 3000))  # the window moves on entirely meanwhile
        page.context.set_offline(False)
        check(xs[-1] + WINDOW * 3)
        page.context.close()
    finally:
        stop(process)
    errors = [e for e in errors if 'ERR_INTERNET_DISCONNECTED' not in e]
    assert not errors, errors
    assert 'Traceback' not in log.read_text(), log.read_text()[-3000:]


def test_performance_and_tensorboard_charts_grow_in_the_browser(tmp_path: Path, pw_browser) -> None:
    errors: list[str] = []
    with run_app(tmp_path) as app:
        run = app.data_dir / 'workspace' / 'run' / 'tensorboard' / 'r'
        write_run(run, range(10))
        page = open_page(pw_browser, app.url + '/?tab=performance', errors)
        wait_for_points(page, 'CPU and RAM', 'xs.length >= 2')
        count = len(traces(page, 'CPU and RAM')[0])
        wait_for_points(page, 'CPU and RAM', f'xs.length >= {count + 2}')  # a point a second
        cpu, ram = traces(page, 'CPU and RAM')
        assert len(cpu) == len(ram) and cpu == sorted(cpu)

        page.get_by_role('tab', name='TensorBoard').click()
        wait_for_points(page, 'loss/train_step', 'xs.length === 10')
        page.get_by_role('switch', name='Follow').click()
        write_run(run, range(10, 25))
        wait_for_points(page, 'loss/train_step', 'xs.length === 25', timeout=30_000)
        for xs in traces(page, 'loss/train_step'):  # the raw and the smoothed curve
            assert xs == list(range(25))

        page.get_by_role('tab', name='Performance').click()  # the hidden chart caught up meanwhile
        wait_for_points(page, 'CPU and RAM', f'xs.length >= {len(cpu) + 2}')
        page.context.close()
        log = app.output()
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]


def test_a_long_series_comes_downsampled_and_a_zoom_shows_every_point(tmp_path: Path, pw_browser) -> None:
    from ot_nicegui.widgets.live_elements import LivePlot

    count, budget = 100_000, LivePlot.POINT_BUDGET
    port = free_port()
    log = tmp_path / 'app.log'
    with log.open('w') as out:
        process = subprocess.Popen([sys.executable, str(HERE / 'history_app.py'), str(port), str(count), '0.5'],
                                   cwd=tmp_path, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    errors: list[str] = []
    ys_js = ('() => { const p = document.querySelector(".js-plotly-plot");'
             ' return p && p.data ? [...p.data[0].y] : null; }')
    try:
        url = f'http://127.0.0.1:{port}'
        wait_for_http(url, process, log)
        page = open_page(pw_browser, url, errors)
        # the downsample: within the budget, both ends and the spike kept; live points go on after it
        wait_for_points(page, 'history', f'xs.length > 8 && xs[xs.length - 1] >= {count + 1}')
        xs, = traces(page, 'history')
        assert len(xs) <= budget + 20 and xs[0] == 0
        assert all(a < b for a, b in zip(xs, xs[1:], strict=False)), 'a point twice or out of order'
        assert max(page.evaluate(ys_js)) == 1e6

        # a zoom is answered with every point of its range
        page.evaluate('() => { const p = document.querySelector(".js-plotly-plot");'
                      ' p.emit("plotly_relayout", {"xaxis.range[0]": 50000, "xaxis.range[1]": 50999.5}); }')
        wait_for_points(page, 'history', 'xs.filter(x => x >= 50000 && x <= 50999.5).length === 1000')
        xs, = traces(page, 'history')
        assert [x for x in xs if 50_000 <= x <= 50_999.5] == list(range(50_000, 51_000))
        # and autoscale goes back to the whole chart, downsampled
        page.evaluate('() => document.querySelector(".js-plotly-plot").emit("plotly_relayout", {"xaxis.autorange": true})')
        wait_for_points(page, 'history', 'xs.filter(x => x >= 50000 && x <= 50999.5).length < 100')
        xs, = traces(page, 'history')
        assert len(xs) <= budget + 20

        # a chart that missed messages (they were lost) asks for the chart again and goes on
        page.evaluate('() => { window.lostHandlers = window.socket.listeners("ot_live");'
                      ' window.socket.off("ot_live"); }')
        page.wait_for_timeout(2000)
        xs, = traces(page, 'history')
        page.evaluate('() => window.lostHandlers.forEach(h => window.socket.on("ot_live", h))')
        wait_for_points(page, 'history', f'xs[xs.length - 1] >= {xs[-1] + 8}')
        xs, = traces(page, 'history')
        assert all(a < b for a, b in zip(xs, xs[1:], strict=False)), 'a point twice or out of order'
        page.context.close()
    finally:
        stop(process)
    assert not errors, errors
    assert 'Traceback' not in log.read_text(), log.read_text()[-3000:]
