"""The dataset editor in Chromium, in both themes: a mask stroke painted with the mouse and a
caption typed and saved with Enter land on disk as `<stem>-masklabel.png` (the image's size, white
where painted) and `<stem>.txt`; the console stays clean and axe-core finds nothing serious."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
from deploy.harness import ARTIFACTS, run_app
from deploy.test_look_and_access import AXE, serious_findings
from PIL import Image

SIZE = (160, 120)


def make_images(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ('light.png', 'dark.png'):
        Image.fromarray(rng.integers(0, 256, size=(SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(folder / name)
    (folder / 'dark.txt').write_text('old caption\nsecond line')


def shows(page, name: str) -> None:
    page.wait_for_function("(name) => { const stage = document.querySelector('.ot-ds-stage');"
                           " return stage?.dataset.state === 'ready' && stage.dataset.image === name; }", arg=name)


def paint_and_caption(page, name: str, caption: str) -> None:
    page.get_by_role('button', name=name).click()
    shows(page, name)  # the image chosen before has been replaced
    box = page.locator('.ot-ds-mask').bounding_box()
    y = box['y'] + box['height'] / 2
    page.mouse.move(box['x'] + box['width'] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box['x'] + box['width'] * 0.7, y, steps=8)
    page.mouse.up()
    assert page.evaluate('otDataset.isDirty()')
    middle = (SIZE[0] // 2, SIZE[1] // 2)
    assert page.evaluate(f'otDataset.maskAt({middle[0]}, {middle[1]})') == 255
    assert page.evaluate('otDataset.maskAt(2, 2)') == 0  # a new mask starts black around the stroke
    # fill turns the black region white; undo brings it back
    page.get_by_role('button', name='Fill').click()
    page.wait_for_function("otDataset.tool() === 'fill'")
    page.mouse.click(box['x'] + 3, box['y'] + 3)
    page.wait_for_function('otDataset.maskAt(2, 2) === 255')
    page.get_by_role('button', name='Undo the last stroke').click()
    page.wait_for_function('otDataset.maskAt(2, 2) === 0')
    page.get_by_role('button', name='Draw').click()
    page.wait_for_function("otDataset.tool() === 'draw'")
    field = page.get_by_label('Caption', exact=True)
    field.fill(caption)
    field.press('Control+m')  # mask only, and back
    page.locator('.ot-ds-mask-only').wait_for(state='attached')
    field.press('Control+m')
    page.locator('.ot-ds-mask-only').wait_for(state='detached')
    field.press('Enter')
    page.get_by_text('Mask saved').wait_for()


def test_paint_a_mask_and_save_a_caption_in_both_themes(tmp_path: Path, pw_browser) -> None:
    folder = tmp_path / 'images'
    make_images(folder)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app:
        for scheme in ('dark', 'light'):
            context = pw_browser.new_context(viewport={'width': 1280, 'height': 900}, color_scheme=scheme)
            page = context.new_page()
            page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.goto(f'{app.url}/dataset?path={quote(str(folder))}')
            page.wait_for_function("[...document.querySelectorAll('.ot-ds-tile img')].length === 2 && "
                                   "[...document.querySelectorAll('.ot-ds-tile img')].every(i => i.complete "
                                   "&& i.naturalWidth > 0)")
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == 'dark')
            shows(page, 'dark.png')  # the first image opens with the folder
            if AXE.exists():
                findings = serious_findings(page)
                assert findings == [], (scheme, findings)
            paint_and_caption(page, f'{scheme}.png', f'a {scheme} caption')
            page.screenshot(path=str(ARTIFACTS / f'dataset-editor-{scheme}.png'), animations='disabled')
            context.close()

            stem = folder / f'{scheme}'
            mask = Image.open(f'{stem}-masklabel.png')
            assert mask.mode == 'L' and mask.size == SIZE
            pixels = np.asarray(mask)
            middle = SIZE[1] // 2
            assert pixels[middle, SIZE[0] // 2] == 255  # painted: trains
            assert pixels[5, 5] == 0 and pixels[middle, 5] == 0  # the rest of a new mask is black
            assert Path(f'{stem}.txt').read_text().splitlines()[0] == f'a {scheme} caption'
        log = app.output()
    assert (folder / 'dark.txt').read_text() == 'a dark caption\nsecond line'
    assert not errors, errors
    assert 'Traceback' not in log, log[-3000:]
