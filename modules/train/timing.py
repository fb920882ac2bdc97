"""OneTrainer's interval rules: when a repeating action (sample, backup, save) or a delayed one
(skip-first, stop-training-after) is due, for every TimeUnit."""
from __future__ import annotations

import time

from modules.config.enums import TimeUnit

from .progress import TrainProgress

_SECONDS = {"SECOND": 1.0, "MINUTE": 60.0, "HOUR": 3600.0}


class IntervalClock:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._start = clock()
        self._last_fire: dict[str, float] = {}

    def repeating(self, name: str, interval, unit: TimeUnit, progress: TrainProgress, start_at_zero: bool) -> bool:
        unit = TimeUnit(unit).value
        if unit == "NEVER":
            return False
        if unit == "ALWAYS":
            return True
        if unit in _SECONDS:
            now = self._clock()
            if name not in self._last_fire:
                if not start_at_zero:
                    self._last_fire[name] = now
                    return False
                self._last_fire[name] = -1.0  # sentinel: the first check fires
            if now - self._last_fire[name] > float(interval) * _SECONDS[unit]:
                self._last_fire[name] = now
                return True
            return False
        every = int(interval)
        if every == 0:
            return False
        if unit == "EPOCH":
            due = progress.epoch % every == 0 and progress.epoch_step == 0
            return due if start_at_zero else due and progress.epoch > 0
        # STEP
        step = progress.global_step if start_at_zero else progress.global_step + 1
        return step % every == 0

    def elapsed(self, delay, unit: TimeUnit, progress: TrainProgress) -> bool:
        unit = TimeUnit(unit).value
        if unit == "NEVER":
            return False
        if unit == "ALWAYS":
            return True
        delay = 0 if delay is None else delay
        if unit == "EPOCH":
            return progress.epoch + 1 > int(delay)
        if unit == "STEP":
            return progress.global_step + 1 > int(delay)
        return self._clock() - self._start > float(delay) * _SECONDS[unit]
