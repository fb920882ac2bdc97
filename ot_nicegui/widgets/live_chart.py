"""Subscriptions of page elements to the process's live events.

(Live charts are `live_elements.LivePlot`, fed by a `live_feed.ChartStream`.)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui


def follow(event: Any, owner: ui.element, callback: Callable[..., Any]) -> None:
    """Subscribe `callback` to a process-wide `event` for as long as `owner` and its client live.

    NiceGUI drops a subscription when its client is deleted; this also covers elements deleted
    on their own and clients that vanished without a delete (the subscription then ends itself).
    """
    def handler(*args: Any) -> None:
        try:
            gone = owner.is_deleted or owner.client.id not in owner.client.instances
        except RuntimeError:  # the client object itself is gone
            gone = True
        if gone:
            event.unsubscribe(handler)
            return
        callback(*args)

    event.subscribe(handler, expect_args=True)
