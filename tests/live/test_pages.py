"""The TensorBoard and Performance tabs."""
from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest
from nicegui.testing import User

from live.support import write_run
from ot_nicegui.state.system_monitor import GpuReading, Reading, SystemMonitor, get_monitor
from ot_nicegui.tb_reader import tensorboard_server


def element(user: User, marker: str):
    with user:
        found = [e for e in user.find(marker=marker).elements if not e.is_deleted]
    assert found, marker
    return found[0]


async def test_tensorboard_tab_charts_runs_from_the_workspace_and_compares_two(user: User, data_dir: Path) -> None:
    logdir = data_dir / 'workspace' / 'run' / 'tensorboard'
    write_run(logdir / 'first', range(20))
    time.sleep(1.1)
    write_run(logdir / 'second', range(10))
    await user.open('/?tab=tensorboard')
    await user.should_see(marker='tb-chart-loss/train_step', retries=100)
    assert element(user, 'tb-run').value == 'second'  # newest first
    data = element(user, 'tb-chart-loss/train_step').figure['data']
    raw, smoothed = data
    assert raw['x'] == list(range(10)) and raw['y'] == [(s + 1) * 0.5 for s in range(10)]
    assert smoothed['name'] == 'second' and smoothed['y'] != raw['y']
    assert element(user, 'tb-tags').value == ['loss/train_step', 'lr/unet']

    with user:
        element(user, 'tb-smoothing').value = 0
    data = element(user, 'tb-chart-loss/train_step').figure['data']
    assert len(data) == 1 and data[0]['y'] == [(s + 1) * 0.5 for s in range(10)]

    with user:
        element(user, 'tb-compare').value = 'first'
    for _ in range(50):
        data = element(user, 'tb-chart-loss/train_step').figure['data']
        if len(data) == 2:
            break
        await asyncio.sleep(0.1)
    assert [trace['name'] for trace in data] == ['second', 'first'] and len(data[1]['x']) == 20

    with user:
        element(user, 'tb-tags').value = ['lr/unet']
    await user.should_not_see(marker='tb-chart-loss/train_step')
    await user.should_see(marker='tb-chart-lr/unet')


async def test_the_real_tensorboard_can_be_launched_and_stopped(user: User, data_dir: Path) -> None:
    write_run(data_dir / 'workspace' / 'run' / 'tensorboard' / 'r', range(3))
    await user.open('/?tab=tensorboard')
    user.find(marker='tb-launch').click()
    server = tensorboard_server()
    try:
        url = server.url
        assert url and url.startswith('http://127.0.0.1:')
        await user.should_see(f'TensorBoard at {url}')
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + 'data/runs', timeout=2) as response:
                    if b'"r"' in response.read():
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, 'TensorBoard did not answer'
            await asyncio.sleep(0.5)
        user.find(marker='tb-stop').click()
        assert not server.running
    finally:
        server.stop()


async def test_performance_tab_shows_cpu_ram_and_a_clean_no_gpu_state(user: User) -> None:
    await user.open('/?tab=performance')
    monitor = get_monitor()
    await user.should_see('%', marker='perf-cpu', retries=50)
    await user.should_see('GiB', marker='perf-ram')
    if not monitor.gpu_source:
        await user.should_see(marker='perf-no-gpu')
    for _ in range(50):
        cpu = element(user, 'perf-system-chart').figure['data']
        if cpu and len(cpu[0]['x']) >= 2:
            break
        await asyncio.sleep(0.1)
    assert [trace['name'] for trace in cpu] == ['CPU %', 'RAM %'] and len(cpu[0]['x']) >= 2
    assert all(0 <= y <= 100 for y in cpu[1]['y'])


async def test_performance_tab_shows_each_gpu(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [GpuReading(0, 'Test GPU A', 55.0, 2 * 1024 ** 3, 8 * 1024 ** 3, 61.0, 120.5, 250.0),
            GpuReading(1, 'Test GPU B')]
    monkeypatch.setattr(SystemMonitor, 'read', lambda self: Reading(time.time(), 12.0, 1e9, 4e9, gpus))
    await user.open('/?tab=performance')
    await user.should_see('GPU 0: Test GPU A', retries=50)
    await user.should_see('GPU 1: Test GPU B')
    await user.should_see('2.0 GiB / 8.0 GiB (25 %)')
    await user.should_see('61 °C')
    await user.should_see('120 W / 250 W')
    await user.should_not_see(marker='perf-no-gpu')
    for _ in range(50):
        names = [trace['name'] for trace in element(user, 'perf-gpu-chart').figure['data']]
        if names:
            break
        await asyncio.sleep(0.1)
    assert names == ['GPU 0 utilisation %', 'GPU 0 VRAM %']


def test_monitor_reads_this_machine_without_a_gpu_driver() -> None:
    reading = SystemMonitor().read()
    assert 0 <= reading.cpu_percent <= 100 and 0 < reading.ram_used < reading.ram_total
    for gpu in reading.gpus:
        assert gpu.name
