"""A page with one live chart of a long series (COUNT points of a random walk with one spike),
that grows a point every PERIOD seconds: `python history_app.py PORT COUNT PERIOD`. Used by
test_live_charts.py."""
from __future__ import annotations

import asyncio
import sys

import numpy as np
from nicegui import app, ui

from ot_nicegui.widgets.live_elements import LivePlot
from ot_nicegui.widgets.live_feed import ChartStream, LiveChannel

PORT, COUNT, PERIOD = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
KEY = 'loss/train_step'
SPIKE = COUNT // 3

channel = LiveChannel()
values = (np.random.default_rng(0).standard_normal(COUNT).cumsum() + 100).tolist()
values[SPIKE] = 1e6
stream = ChartStream('history', {KEY: (list(range(COUNT)), values)}, channel=channel)


async def feed() -> None:
    count = COUNT
    while True:
        await asyncio.sleep(PERIOD)
        stream.append({KEY: ([count], [50.0])})
        count += 1


@ui.page('/')
def page() -> None:
    chart = LivePlot(channel, stream, 'history').classes('w-full').style('height: 280px')
    chart.add_trace(KEY)
    chart.update()


app.on_startup(feed)
ui.run(host='127.0.0.1', port=PORT, reload=False, show=False, reconnect_timeout=30.0)
