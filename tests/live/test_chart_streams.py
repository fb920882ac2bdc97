"""Chart streams: the one way a live chart grows. The system readings and a TensorBoard chart that
follows its files reach the pages that show them in live-feed messages (never element by
element), a window stream keeps only its last points, and a page that opens late or reconnects
is sent the chart whole."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from live.support import mentions, page_messages, until, write_run
from ot_nicegui.state.system_monitor import (
    SYSTEM_SERIES,
    GpuReading,
    Reading,
    SystemMonitor,
    chart_points,
    get_monitor,
)
from ot_nicegui.tb_reader import smooth
from ot_nicegui.widgets.live_feed import SYSTEM_STREAM, ChartStream, get_live_feed


def element(user: User, marker: str) -> ui.element:
    with user:
        return next(e for e in user.find(marker=marker).elements if not e.is_deleted)


def test_a_window_stream_keeps_its_last_points_and_counts_what_it_dropped() -> None:
    stream = ChartStream('window', max_points=4)
    assert stream.append({'a/b': ([0, 1], [0.0, 0.5])}) == ['a/b']
    assert stream.take() == {'a/b': [0, [0, 1], [0.0, 0.5]]}
    assert stream.append({'a/b': ([2, 3, 4], [1.0, 1.5, 2.0]), 'c': ([], [])}) == []
    xs, ys = stream.series['a/b']
    assert xs == [1, 2, 3, 4] and ys == [0.5, 1.0, 1.5, 2.0] and stream.start('a/b') == 1
    assert stream.take() == {'a/b': [2, [2, 3, 4], [1.0, 1.5, 2.0]]}
    for x in range(5, 15):  # no message went out meanwhile: only what a page could keep waits
        stream.append({'a/b': ([x], [x / 2])})
    assert stream.pending == {'a/b': [11, [11, 12, 13, 14], [5.5, 6.0, 6.5, 7.0]]}
    assert stream.series['a/b'][0] == [11, 12, 13, 14] and stream.start('a/b') == 11


def test_system_readings_become_chart_series() -> None:
    gpu = GpuReading(0, 'GPU', utilization=40.0, memory_used=1.0, memory_total=4.0)
    points = chart_points([Reading(1.0, 10.0, 1.0, 4.0, [gpu, GpuReading(1, 'other')]), Reading(2.0, 20.0, 2.0, 4.0)])
    assert points == {'CPU %': ([1000.0, 2000.0], [10.0, 20.0]), 'RAM %': ([1000.0, 2000.0], [25.0, 50.0]),
                      'GPU 0 utilisation %': ([1000.0], [40.0]), 'GPU 0 VRAM %': ([1000.0], [25.0])}


async def test_system_readings_reach_only_the_pages_that_chart_them(
        create_user, feed_messages, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [GpuReading(0, 'Test GPU', 50.0, 1.0, 2.0)]
    monkeypatch.setattr(SystemMonitor, 'read', lambda self: Reading(time.time(), 12.0, 1.0, 4.0, gpus))
    alice: User = create_user()
    bob: User = create_user()
    await alice.open('/?tab=performance')
    await bob.open('/?tab=general')
    await alice.should_see('GPU 0: Test GPU', retries=50)
    system, gpu = element(alice, 'perf-system-chart'), element(alice, 'perf-gpu-chart')
    assert system.keys == list(SYSTEM_SERIES) and gpu.keys == ['GPU 0 utilisation %', 'GPU 0 VRAM %']
    await until(lambda: not alice.client.outbox.updates, timeout=10, what='the page sent')
    sent = page_messages(alice)
    feed_messages.clear()
    count = len(system.figure['data'][0]['x'])

    await until(lambda: len(system.figure['data'][0]['x']) >= count + 2, timeout=10, what='two readings')
    await until(lambda: any(SYSTEM_STREAM in m.get('points', {}) for m, _ in feed_messages), timeout=10,
                what='a message')
    readings = [(m['points'][SYSTEM_STREAM], rooms) for m, rooms in feed_messages if SYSTEM_STREAM in m.get('points', {})]
    for points, rooms in readings:
        assert rooms == [alice.client.id]  # the General tab has no chart of them
        assert set(points) == {'CPU %', 'RAM %', 'GPU 0 utilisation %', 'GPU 0 VRAM %'}
        first, xs, ys = points['CPU %']
        assert ys == [12.0] * len(xs) and first + len(xs) <= get_live_feed().system.start('CPU %') + len(
            system.figure['data'][0]['x'])
    assert not mentions(sent, system) and not mentions(sent, gpu)  # the feed carried the points


async def test_the_system_window_trims_old_readings_and_a_new_page_gets_the_window(
        create_user) -> None:
    monitor = get_monitor()
    monitor.stop()  # only the readings this test makes
    alice: User = create_user()
    await alice.open('/?tab=performance')
    stream = get_live_feed().system
    window = stream.max_points
    assert window == monitor.history.maxlen
    start = stream.start('CPU %') + len(stream.series['CPU %'][0])  # the index the next reading gets
    for i in range(window + 3):
        reading = Reading(1e9 + i, float(i % 100), 1.0, 4.0)
        monitor.history.append(reading)
        monitor.updated.emit(reading)
    chart = element(alice, 'perf-system-chart')
    xs = chart.figure['data'][0]['x']
    assert len(xs) == window and xs[-1] == (1e9 + window + 2) * 1000
    assert stream.start('CPU %') == start + 3

    bob: User = create_user()
    await bob.open('/?tab=performance')
    sent = element(bob, 'perf-system-chart')._to_dict()['props']
    assert sent['stream'] == SYSTEM_STREAM and sent['keys'] == list(SYSTEM_SERIES)
    # the index of the next reading: where the feed's messages go on from
    assert sent['ends'] == [start + window + 3] * 2 and sent['max_points'] == window
    assert sent['options']['data'][0]['x'] == xs and sent['options']['data'][0]['x'] is not xs  # a copy of the window


async def test_a_tensorboard_chart_that_follows_its_files_grows_from_its_stream(
        user: User, data_dir: Path, feed_messages) -> None:
    run = data_dir / 'workspace' / 'run' / 'tensorboard' / 'r'
    write_run(run, range(10))
    await user.open('/?tab=tensorboard')
    await user.should_see(marker='tb-chart-loss/train_step', retries=100)
    chart = element(user, 'tb-chart-loss/train_step')
    await until(lambda: len(chart.figure['data'][0]['x']) == 10, timeout=10, what='the first read')
    stream = chart.stream
    await until(lambda: not user.client.outbox.updates, timeout=10, what='the page sent')
    sent = page_messages(user)
    feed_messages.clear()

    write_run(run, range(10, 25))
    user.find(marker='tb-refresh').click()  # as "follow" does every few seconds
    await until(lambda: len(chart.figure['data'][0]['x']) == 25, timeout=10, what='the new points')
    def mine() -> list[tuple[dict, list[str]]]:
        return [(m, rooms) for m, rooms in feed_messages if stream.name in m.get('points', {})]

    await until(mine, timeout=10, what='a message')
    assert chart.stream is stream and chart.keys == ['r (raw)', 'r']
    (message, rooms), = mine()
    assert rooms == [user.client.id]
    raw_first, raw_x, _ = message['points'][stream.name]['r (raw)']
    smooth_first, smooth_x, smooth_y = message['points'][stream.name]['r']
    assert raw_first == smooth_first == 10 and raw_x == smooth_x == list(range(10, 25))
    assert smooth_y == chart.figure['data'][1]['y'][10:]
    raw_y = chart.figure['data'][0]['y']  # the curve smoothed on is the one smoothed whole
    assert chart.figure['data'][1]['y'] == pytest.approx(smooth(raw_y, element(user, 'tb-smoothing').value))
    assert not mentions(sent, chart)

    with user:  # other curves: the chart is sent whole, with a stream of its own
        element(user, 'tb-smoothing').value = 0
    await until(lambda: mentions(sent, chart), timeout=10, what='the new curves')
    assert chart.stream is not stream and chart.keys == ['r'] and chart.figure['data'][0]['x'] == list(range(25))
