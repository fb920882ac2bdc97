"""Long runs: a page is sent a min/max-preserving downsample of a long series, capped at a point
budget, and the points of the x-range it zooms to at full resolution; the feed's points go on
from where the figure ends."""
from __future__ import annotations

import math

import numpy as np
from nicegui.testing import User

from live.support import mentions, page_messages, until
from ot_nicegui.state.training_session import get_training_session
from ot_nicegui.widgets.live_elements import LivePlot
from ot_nicegui.widgets.live_feed import get_live_feed
from ot_nicegui.widgets.series_view import downsample, view, zoomed

BUDGET = LivePlot.POINT_BUDGET


def noisy(count: int, seed: int = 0) -> tuple[list[int], list[float]]:
    rng = np.random.default_rng(seed)
    return list(range(count)), (rng.standard_normal(count).cumsum() + 100).tolist()


def test_a_downsample_keeps_the_extremes_and_both_ends_within_the_budget() -> None:
    xs, ys = noisy(100_000)
    ys[31_337] = 1e6  # a spike and a dip a plain every-nth pick would miss
    ys[77_777] = -1e6
    for budget in (2000, 400, 22):
        small_x, small_y = downsample(xs, ys, budget)
        assert 8 <= len(small_x) <= budget
        assert small_x[0] == 0 and small_x[-1] == 99_999 and small_y[-1] == ys[-1]
        assert max(small_y) == 1e6 and min(small_y) == -1e6
        assert small_x == sorted(set(small_x)), 'each point once, in order'
        assert all(ys[x] == y for x, y in zip(small_x, small_y, strict=True))


def test_a_series_that_fits_is_sent_whole_and_nan_stays_nan() -> None:
    xs, ys = [0, 1, 2], [1.0, math.nan, 3.0]
    out_x, out_y = downsample(xs, ys, 8)
    assert out_x == xs and out_x is not xs and math.isnan(out_y[1])
    assert view(xs, ys, 8, (1, 1))[0] == xs  # zoomed or not: all of it


def test_a_zoom_gets_its_range_at_full_resolution_and_an_outline_of_the_rest() -> None:
    xs, ys = noisy(100_000, seed=1)
    inside_x, inside_y = zoomed(xs, ys, 2000, (40_000, 41_000))
    assert len(inside_x) <= 2000 and inside_x == sorted(set(inside_x))
    assert [x for x in inside_x if 40_000 <= x <= 41_000] == list(range(40_000, 41_001))  # every point
    assert inside_x[0] == 0 and inside_x[-1] == 99_999  # the outline reaches both ends
    left = [y for x, y in zip(inside_x, inside_y, strict=True) if x < 40_000]
    assert min(left) == min(ys[:40_000]) and max(left) == max(ys[:40_000])
    # a range with more points than the budget is downsampled, extremes kept
    wide_x, wide_y = zoomed(xs, ys, 2000, (10_000.5, 90_000))
    assert len(wide_x) <= 2000
    assert min(y for x, y in zip(wide_x, wide_y, strict=True) if x > 10_000) == min(ys[10_001:90_001])
    # steps that go back (a resumed run) keep their order
    back_x = list(range(60_000)) + list(range(30_000, 70_000))
    back_y = [float(i) for i in range(len(back_x))]
    out_x, out_y = zoomed(back_x, back_y, 2000, (35_000, 35_100))
    assert out_y == sorted(out_y) and out_x.count(35_000) == 2


def chart(user: User, marker: str) -> LivePlot:
    with user:
        return next(e for e in user.find(marker=marker).elements if not e.is_deleted)


async def test_a_page_gets_a_long_run_downsampled_and_zooms_to_full_resolution(user: User, feed_messages) -> None:
    session = get_training_session()
    steps, loss = noisy(100_000)
    session.scalars['loss/train_step'] = (steps, loss)
    session.scalars['lr/unet'] = (list(steps), [1e-4] * len(steps))
    await user.open('/?tab=run')
    await user.should_see(marker='run-chart-lr')
    plot = chart(user, 'run-chart-loss')
    sent = plot._to_dict()['props']
    trace = sent['options']['data'][0]
    assert sent['keys'] == ['loss/train_step'] and sent['ends'] == [100_000]
    assert len(trace['x']) <= BUDGET and trace['x'][0] == 0 and trace['x'][-1] == 99_999
    assert max(trace['y']) == max(loss) and min(trace['y']) == min(loss)
    assert plot.figure['data'][0]['x'] is steps  # the server keeps every point

    await until(lambda: not user.client.outbox.updates, timeout=10, what='the page sent')
    messages = page_messages(user)
    plot.zoom({'x0': 50_000, 'x1': 50_999.5})  # as the page's relayout event asks
    await until(lambda: mentions(messages, plot), timeout=10, what='the zoomed chart')
    trace = plot._to_dict()['props']['options']['data'][0]
    assert [x for x in trace['x'] if 50_000 <= x <= 50_999.5] == list(range(50_000, 51_000))
    assert len(trace['x']) <= BUDGET

    # points logged now reach the page in the feed's message, from where the figure ended
    steps.append(100_000)
    loss.append(0.5)
    feed = get_live_feed()
    feed.run_stream.noted('loss/train_step', [100_000], [0.5])
    assert feed.run_stream.take() == {'loss/train_step': [100_000, [100_000], [0.5]]}
    assert plot._to_dict()['props']['ends'] == [100_001]

    messages.clear()
    plot.zoom({})  # back to the whole chart
    await until(lambda: mentions(messages, plot), timeout=10, what='the whole chart')
    assert len(plot._to_dict()['props']['options']['data'][0]['x']) <= BUDGET
    messages.clear()
    plot.zoom({})  # no change: nothing sent
    await until(lambda: not user.client.outbox.updates, timeout=10, what='the page sent')
    assert not mentions(messages, plot)
    session.reset()
