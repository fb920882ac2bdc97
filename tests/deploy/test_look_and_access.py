"""The look of the main page in Chromium, in the light and the dark theme: axe-core finds nothing
serious or critical on any tab, charts draw on the theme's colours (also when the theme changes
while they are shown), the settings search's results sit on an opaque surface, and the Tab key
reaches every kind of control with a visible focus ring. No page logs a console error.

axe-core comes from the npm registry through `tests/setup_system.sh` (into `tests/.npm`).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from deploy.harness import run_app

AXE = Path(__file__).resolve().parents[1] / '.npm' / 'node_modules' / 'axe-core' / 'axe.min.js'
DESKTOP = {'width': 1440, 'height': 900}
PHONE = {'width': 390, 'height': 844}
THEMES = ('light', 'dark')
IS_DARK = "document.body.classList.contains('body--dark')"
VISIBLE_TABS = "[...document.querySelectorAll('.ot-tabs .q-tab')].filter(t => t.offsetParent !== null)" \
               ".map(t => t.querySelector('.q-tab__label').textContent.trim())"
# every chart plotly has drawn (a live chart on a hidden tab is drawn once it is shown)
CHART_COLOURS = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd._fullLayout).map(gd => ({
    title: gd.layout && gd.layout.title ? gd.layout.title.text : '', dialog: !!gd.closest('.q-dialog'),
    paper: gd._fullLayout.paper_bgcolor, plot: gd._fullLayout.plot_bgcolor, text: gd._fullLayout.font.color,
    drawn: getComputedStyle(gd.querySelector('.main-svg')).backgroundColor}))"""


@pytest.fixture(scope='module')
def app(tmp_path_factory):
    from live.support import write_run

    tmp = tmp_path_factory.mktemp('look')
    with run_app(tmp) as running:
        write_run(running.data_dir / 'workspace' / 'run' / 'tensorboard' / 'r', range(10))  # a TensorBoard chart
        yield running


def open_page(pw_browser, app, errors: list[str], viewport=DESKTOP, path: str = '/', still: bool = False):
    """A new browser page; `still`: it asks for reduced motion (no colour is caught mid-transition)."""
    page = pw_browser.new_page(viewport=viewport, reduced_motion='reduce' if still else 'no-preference')
    page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f'page: {e}'))
    page.goto(app.url + path)
    page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    return page


def set_theme(page, theme: str) -> None:
    dark = theme == 'dark'
    if page.evaluate(IS_DARK) != dark:
        page.locator('[aria-label^="Switch to"]').click()
        page.wait_for_function(f'{IS_DARK} === {str(dark).lower()}')


def show_tab(page, label: str) -> None:
    page.get_by_role('tab', name=label, exact=True).click()
    page.wait_for_function('(label) => document.querySelector(".ot-tabs .q-tab--active .q-tab__label")'
                           '?.textContent.trim() === label', arg=label)
    page.wait_for_load_state('networkidle')


# ---- colours -----------------------------------------------------------------------------------
def rgb(colour: str) -> tuple[float, float, float, float]:
    """A CSS colour as the browser or plotly gives it: #rgb, #rrggbb, rgb() or rgba()."""
    colour = colour.strip()
    if colour.startswith('#'):
        digits = colour[1:]
        if len(digits) == 3:
            digits = ''.join(d * 2 for d in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), 1.0
    numbers = [float(n) for n in re.findall(r'[\d.]+', colour)]
    return numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) > 3 else 1.0


def luminance(colour: str) -> float:
    """WCAG relative luminance."""
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    r, g, b, _alpha = rgb(colour)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_luminance_and_contrast_follow_wcag() -> None:
    assert contrast('#ffffff', '#000000') == pytest.approx(21.0)
    assert contrast('#ffffff', '#5898d4') == pytest.approx(3.06, abs=0.01)  # the old primary: too low
    assert contrast('rgb(255, 255, 255)', '#2a6db5') >= 4.5
    assert rgb('rgba(0, 0, 0, 0)')[3] == 0


# ---- axe-core ----------------------------------------------------------------------------------
def serious_findings(page) -> list[str]:
    if not page.evaluate('!!window.axe'):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
                               ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:5]}" for v in violations if v['impact'] in ('serious', 'critical')]


@pytest.mark.skipif(not AXE.exists(), reason='axe-core is not installed (tests/setup_system.sh installs it)')
@pytest.mark.parametrize('viewport', [DESKTOP, PHONE], ids=['desktop', 'phone'])
def test_axe_finds_nothing_serious_on_any_tab_in_either_theme(app, pw_browser, viewport) -> None:
    errors: list[str] = []
    page = open_page(pw_browser, app, errors, viewport, still=True)
    assert page.evaluate('document.documentElement.lang') == 'en-US'
    findings = {}
    for theme in THEMES:
        set_theme(page, theme)
        tabs = page.evaluate(VISIBLE_TABS)
        assert {'General', 'Concepts', 'Run', 'TensorBoard', 'Help'} <= set(tabs)
        for label in tabs:
            show_tab(page, label)
            found = serious_findings(page)
            if found:
                findings[f'{theme} {label}'] = found
        for button, tab in (('Timestep distribution settings', 'Training'), ('No changes since the preset', None)):
            if tab:
                show_tab(page, tab)
            page.get_by_role('button', name=button).click()
            page.locator('.q-dialog').wait_for()
            page.wait_for_load_state('networkidle')
            found = serious_findings(page)
            if found:
                findings[f'{theme} dialog {button!r}'] = found
            page.keyboard.press('Escape')
            page.locator('.q-dialog').wait_for(state='detached')
        page.goto(app.url + '/run')  # the run on a phone, in the theme chosen on the main page
        page.wait_for_load_state('networkidle')
        assert page.evaluate(IS_DARK) == (theme == 'dark')
        found = serious_findings(page)
        if found:
            findings[f'{theme} /run'] = found
        page.goto(app.url + '/')
        page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    page.close()
    assert not findings, findings
    assert not errors, errors


# ---- charts --------------------------------------------------------------------------------------
def charts_on_theme(page, theme: str, at_least: int) -> list[dict]:
    """The colours of every chart of the page, once all of them (and at least `at_least`) are drawn
    on `theme`'s colours; fails with what they are after a few seconds."""
    def fits(chart: dict) -> bool:
        backgrounds = [chart['paper'], chart['plot'], chart['drawn']]
        if theme == 'dark':
            ok = all(luminance(c) < 0.03 for c in backgrounds)
        else:
            ok = all(luminance(c) > 0.85 for c in backgrounds)
        return ok and contrast(chart['text'], chart['paper']) >= 4.5

    deadline = time.monotonic() + 10
    while True:
        charts = page.evaluate(CHART_COLOURS)
        if len(charts) >= at_least and all(fits(c) for c in charts):
            return charts
        if time.monotonic() > deadline:
            pytest.fail(f'charts not drawn on the {theme} colours: {charts}')
        page.wait_for_timeout(100)


def test_every_chart_follows_the_theme_also_when_it_changes(app, pw_browser) -> None:
    errors: list[str] = []
    page = open_page(pw_browser, app, errors, path='/?tab=tensorboard')
    set_theme(page, 'light')
    tensorboard = {'loss/train_step', 'lr/unet'}
    page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')]"
                           ".some(p => p.offsetParent !== null && p.layout?.title?.text === 'loss/train_step')")
    assert tensorboard <= {c['title'] for c in charts_on_theme(page, 'light', 2)}
    show_tab(page, 'General')
    set_theme(page, 'dark')  # while the charts' tab is away (out of the document)
    show_tab(page, 'TensorBoard')
    assert tensorboard <= {c['title'] for c in charts_on_theme(page, 'dark', 2)}
    set_theme(page, 'light')  # while they are shown
    charts_on_theme(page, 'light', 2)

    # the Run tab before a run: a message says what to do, no empty axes
    show_tab(page, 'Run')
    assert page.get_by_text('Start training to see the loss here').is_visible()
    assert page.evaluate("[...document.querySelectorAll('.ot-run-charts .js-plotly-plot')]"
                         ".every(p => p.offsetParent === null)")

    show_tab(page, 'Performance')
    page.locator('.js-plotly-plot').first.wait_for()
    assert 'CPU and RAM' in {c['title'] for c in charts_on_theme(page, 'light', 1)}
    set_theme(page, 'dark')  # while the chart is shown
    charts_on_theme(page, 'dark', 1)

    # a chart drawn by NiceGUI's own plotly element (a dialog's preview), opened in the dark theme
    show_tab(page, 'Training')
    page.get_by_role('button', name='Timestep distribution settings').click()
    page.locator('.q-dialog .js-plotly-plot').wait_for()
    assert any(c['dialog'] for c in charts_on_theme(page, 'dark', 1))
    page.keyboard.press('Escape')

    # a page opened in the dark theme draws dark from the start
    page.reload()
    page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
    assert page.evaluate(IS_DARK)
    show_tab(page, 'Performance')
    page.locator('.js-plotly-plot:visible').first.wait_for()
    charts_on_theme(page, 'dark', 1)
    set_theme(page, 'light')
    page.close()
    assert not errors, errors


# ---- settings search -----------------------------------------------------------------------------
@pytest.mark.parametrize('viewport', [DESKTOP, PHONE], ids=['desktop', 'phone'])
def test_search_results_sit_on_an_opaque_surface(app, pw_browser, viewport) -> None:
    errors: list[str] = []
    page = open_page(pw_browser, app, errors, viewport)
    for theme in THEMES:
        set_theme(page, theme)
        page.get_by_label('Search settings').fill('learning rate')
        page.locator('.ot-search-results .q-item').first.wait_for()
        page.mouse.move(1, 1)  # a hit under the pointer shows Quasar's hover tint, which is not its surface
        page.wait_for_timeout(300)
        results = page.evaluate("""() => {
            const list = document.querySelector('.ot-search-results');
            return {background: getComputedStyle(list).backgroundColor,
                    hits: [...list.querySelectorAll('.q-item')].map(item => ({
                        background: getComputedStyle(item).backgroundColor,
                        label: getComputedStyle(item.querySelector('.q-item__label')).color,
                        caption: getComputedStyle(item.querySelector('.q-item__label--caption')).color}))};
        }""")
        background = results['background']
        assert rgb(background)[3] == 1, f'{theme}: the results have no opaque background ({background})'
        assert (luminance(background) < 0.05) == (theme == 'dark'), (theme, background)
        assert len(results['hits']) >= 2
        for hit in results['hits']:
            assert rgb(hit['background'])[3] in (0, 1)  # the list's surface, or an opaque one of its own
            surface = hit['background'] if rgb(hit['background'])[3] == 1 else background
            assert contrast(hit['label'], surface) >= 4.5, (theme, hit)
            assert contrast(hit['caption'], surface) >= 4.5, (theme, hit)
        page.get_by_label('Search settings').fill('')
    page.close()
    assert not errors, errors


# ---- keyboard focus ------------------------------------------------------------------------------
# the kind of the focused control and the look of its focus: the ring is on the control itself, or
# on the box of the field whose input has the focus
FOCUS_LOOK = """() => {
    const element = document.activeElement;
    if (!element || element === document.body) return null;
    const kind = element.closest('.q-tab') ? 'tab' : element.closest('.q-toggle') ? 'switch'
        : element.closest('.q-field') ? 'input' : element.closest('.q-btn') ? 'button' : 'other';
    const box = kind === 'input' ? element.closest('.q-field').querySelector('.q-field__control') : element;
    const look = () => { const s = getComputedStyle(box);
        return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(' | '); };
    const focused = look();
    element.blur();
    return {kind, focused, unfocused: look(), name: element.getAttribute('aria-label') || element.textContent.trim().slice(0, 40)};
}"""


@pytest.mark.parametrize('theme', THEMES)
def test_tab_key_reaches_every_kind_of_control_with_a_visible_focus_ring(app, pw_browser, theme) -> None:
    errors: list[str] = []
    page = open_page(pw_browser, app, errors)
    set_theme(page, theme)
    show_tab(page, 'General')
    wanted = {'button': 3, 'switch': 3, 'input': 3, 'tab': 1}  # the tab bar is one stop: arrows move in it
    seen: dict[str, list[dict]] = {}
    for _ in range(150):
        page.keyboard.press('Tab')
        look = page.evaluate(FOCUS_LOOK)  # (blurs the control: the next Tab goes on from it)
        if look is None:
            continue
        seen.setdefault(look['kind'], []).append(look)
        if all(len(seen.get(kind, [])) >= count for kind, count in wanted.items()):
            break
    reached = {kind: len(looks) for kind, looks in seen.items()}
    assert all(reached.get(kind, 0) >= count for kind, count in wanted.items()), reached
    invisible = [look for looks in seen.values() for look in looks
                 if look['focused'] == look['unfocused'] or not look['focused'].startswith('solid | 3px')]
    assert not invisible, f'focus not visible on {invisible[:5]}'
    page.close()
    assert not errors, errors
