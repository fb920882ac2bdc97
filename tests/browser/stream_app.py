"""A page with one live chart of a stream that keeps only its last WINDOW points, fed one point
every PERIOD seconds: `python stream_app.py PORT WINDOW PERIOD`. Used by test_live_charts.py."""
from __future__ import annotations

import asyncio
import sys

from nicegui import app, ui

from ot_nicegui.widgets.live_elements import LivePlot
from ot_nicegui.widgets.live_feed import ChartStream, LiveChannel

PORT, WINDOW, PERIOD = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
KEY = 'loss/train step'  # a key with a slash and a space: never part of a selector or an id

channel = LiveChannel()
stream = ChartStream('window', max_points=WINDOW, channel=channel)


async def feed() -> None:
    count = 0
    while True:
        stream.append({KEY: ([count], [count * 2])})
        count += 1
        await asyncio.sleep(PERIOD)


@ui.page('/')
def page() -> None:
    chart = LivePlot(channel, stream, 'window').classes('w-full').style('height: 280px')
    chart.add_trace(KEY)
    chart.update()


app.on_startup(feed)
ui.run(host='127.0.0.1', port=PORT, reload=False, show=False, reconnect_timeout=30.0)
