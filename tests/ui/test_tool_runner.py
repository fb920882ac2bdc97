"""The tools' runner: progress and log from a worker thread, cancel, clear errors, one GPU job."""
from __future__ import annotations

import threading

from nicegui import ui
from nicegui.testing import User

from modules.tools.task import ToolError, ToolTask
from ot_nicegui.widgets.tool_runner import GPU_LOCK, ToolRunner


def counting(task: ToolTask, items: int) -> int:
    for i in range(items):
        task.check()
        task.log(f'item {i}')
        task.step(i + 1, items)
    return items


async def test_a_tool_reports_progress_and_its_log_and_returns_its_result(user: User) -> None:
    results = []

    @ui.page('/runner')
    def page() -> None:
        runner = ToolRunner('count')

        async def go() -> None:
            results.append(await runner.run(counting, 3))
        ui.button('Go', on_click=go).mark('go')

    await user.open('/runner')
    user.find(marker='go').click()
    await user.should_see('Done')
    assert results == [3]
    with user:
        log = next(iter(user.find(marker='tool-count-log').elements))
        bar = next(iter(user.find(marker='tool-count-progress').elements))
    assert [line.text for line in log.default_slot.children] == ['item 0', 'item 1', 'item 2']
    assert bar.value == 1.0


async def test_cancel_stops_between_items_and_errors_are_one_line(user: User) -> None:
    gate = threading.Event()
    results = []

    def slow(task: ToolTask) -> str:
        for _ in range(100):
            task.check()
            gate.wait(5)
        return 'finished'

    def broken(task: ToolTask) -> None:
        raise ToolError('the folder /nowhere does not exist')

    @ui.page('/runner')
    def page() -> None:
        runner = ToolRunner('slow')

        async def go(fn) -> None:
            results.append(await runner.run(fn))
        ui.button('Slow', on_click=lambda: go(slow)).mark('slow')
        ui.button('Broken', on_click=lambda: go(broken)).mark('broken')

    await user.open('/runner')
    user.find(marker='slow').click()
    await user.should_see('Running')
    user.find(marker='tool-slow-cancel').click()
    gate.set()
    await user.should_see('Cancelled: what was finished is kept')
    user.find(marker='broken').click()
    await user.should_see('Stopped: the folder /nowhere does not exist')
    assert results == [None, None]


async def test_a_gpu_tool_waits_for_the_gpu(user: User) -> None:
    results = []

    @ui.page('/runner')
    def page() -> None:
        runner = ToolRunner('gpu')

        async def go() -> None:
            results.append(await runner.run(counting, 1, uses_gpu=True))
        ui.button('Go', on_click=go).mark('go')

    await user.open('/runner')
    with GPU_LOCK:
        user.find(marker='go').click()
        await user.should_see('Not started: another tool is using the GPU')
    user.find(marker='go').click()
    await user.should_see('Done')
    assert results == [None, 1] and not GPU_LOCK.locked()
