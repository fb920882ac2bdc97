"""Time from opening the dataset editor on a folder of 5,000 images to its first page of
thumbnails, against the same on a folder of one page of images (the baseline, measured in the same run).

Goal: the large folder shows its first thumbnails in under 2 s, so the ratio stays near 1 (the
grid lists and pages the folder; thumbnails are made only for the page shown).

Two measurements, both with an empty thumbnail cache (the worst case, a folder never opened):
- server side: scan + first page of thumbnails, in this process;
- Chromium: navigation start until every thumbnail on screen has loaded (needs
  Debian's chromium and the playwright package; skipped with a note when they are missing).

Usage: .venv/bin/python bench/dataset_editor_grid.py [images]   (default 5000)
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules.tools.dataset import scan, thumbnail  # noqa: E402
from ot_nicegui.pages.dataset_editor import PAGE_SIZE  # noqa: E402

SIZE = (768, 512)
# the thumbnails on screen (the grid's images load lazily: those below the fold wait for a scroll)
FIRST_THUMBNAILS_SHOWN = ("(() => { const imgs = [...document.querySelectorAll('.ot-ds-tile img')]"
                          ".filter(i => i.getBoundingClientRect().top < innerHeight);"
                          " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0)"
                          " ? performance.now() : 0; })()")


def make_folder(folder: Path, count: int) -> None:
    """`count` JPEGs (smooth colour ramps, so they are small on disk) with a caption each."""
    folder.mkdir(parents=True)
    ramp = np.linspace(0, 1, SIZE[0], dtype=np.float32)[None, :, None]
    rows = np.linspace(0, 1, SIZE[1], dtype=np.float32)[:, None, None]
    for i in range(count):
        colour = np.array([(i * 37) % 256, (i * 91) % 256, (i * 53) % 256], dtype=np.float32)
        pixels = (colour * ramp + (255 - colour) * rows).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f'img_{i:05d}.jpg', quality=85)
        (folder / f'img_{i:05d}.txt').write_text(f'image number {i}')


def server_side(folder: Path, cache: Path) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    images = scan(folder)
    for image in images[:PAGE_SIZE]:
        thumbnail(folder / image.relative, cache)
    return time.perf_counter() - start


def in_chromium(folders: dict[str, Path]) -> dict[str, float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    executable = os.environ.get('CHROMIUM') or shutil.which('chromium')
    if not executable:
        return None
    from _servers import serve

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
    from deploy.harness import CHROMIUM_ARGS

    times: dict[str, float] = {}
    with serve('app') as (url, _process, _startup), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1440, 'height': 900})
        page.goto(url + '/dataset')  # warm: the page's scripts are in the browser's cache
        page.wait_for_selector('.ot-ds-grid', state='attached')
        for name, folder in folders.items():  # each folder opened once: its thumbnails are made now
            page.goto(f'{url}/dataset?path={quote(str(folder))}')
            handle = page.wait_for_function(FIRST_THUMBNAILS_SHOWN, timeout=120_000, polling=20)
            times[name] = handle.json_value() / 1000
        browser.close()
    return times


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ['OT_BROWSE_ROOTS'] = str(root)
        large, small = root / 'large', root / 'small'
        start = time.perf_counter()
        make_folder(large, count)
        make_folder(small, PAGE_SIZE)
        print(f'made {count} + {PAGE_SIZE} images of {SIZE[0]}×{SIZE[1]} in {time.perf_counter() - start:.1f} s')

        base = server_side(small, root / 'cache')
        big = server_side(large, root / 'cache')
        warm_start = time.perf_counter()
        scan(large)
        warm_scan = time.perf_counter() - warm_start
        print(f'server side, scan + first page of {PAGE_SIZE} thumbnails (cold cache):')
        print(f'  {PAGE_SIZE} images: {base:.3f} s   {count} images: {big:.3f} s   ratio {big / base:.2f}'
              f'   (scan alone: {warm_scan * 1000:.0f} ms)')

        browser = in_chromium({'small': small, 'large': large})
        if browser is None:
            print('Chromium: not measured (chromium or playwright missing)')
            return
        ratio = browser['large'] / browser['small']
        print('Chromium, navigation start to the thumbnails on screen loaded (cold cache):')
        print(f'  {PAGE_SIZE} images: {browser["small"]:.2f} s   {count} images: {browser["large"]:.2f} s   ratio {ratio:.2f}'
              f'   (goal: {count} images under 2 s: {"met" if browser["large"] < 2 else "NOT met"})')


if __name__ == '__main__':
    main()
