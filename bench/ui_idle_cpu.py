"""Idle CPU of the app's server process with 1 and with 20 open browser pages.

Goal: < 2 % of one core. Needs Chromium (/usr/bin/chromium) and playwright.
Usage: .venv/bin/python bench/ui_idle_cpu.py [seconds]
"""
from __future__ import annotations

import os
import sys
import time

import psutil
from _servers import serve
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run']


def idle_cpu_percent(process: psutil.Process, seconds: float) -> float:
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100.0 * used / seconds


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    with serve('app') as (url, server, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        process = psutil.Process(server.pid)
        pages = []
        for clients in (1, 20):
            while len(pages) < clients:
                page = browser.new_page()
                page.goto(url)
                page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
                pages.append(page)
            time.sleep(3)  # let the last page settle
            percent = idle_cpu_percent(process, seconds)
            print(f'{clients:2d} client(s): server idle CPU {percent:.2f} % of one core '
                  f'(ratio to the 2 % goal: {percent / 2:.2f})')
        browser.close()


if __name__ == '__main__':
    main()
