"""What pages show of the run, as plain text and numbers: the bottom bar's texts and bar
positions, the message for a run that ended, and which chart a logged value is drawn in."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .training_session import Outcome, Phase, RunSummary, SampleRecord, TrainingSession

BAR_STEPS = 400  # progress bars move in steps of 1/400 of their width; finer moves are not visible


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return '–'
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def format_rate(rate: float | None) -> str:
    if rate is None:
        return '– it/s'
    return f'{rate:.2f} it/s' if rate >= 1 else f'{1 / rate:.1f} s/it'


def bar_value(fraction: float) -> float:
    """The value a progress bar shows: `fraction` rounded down to the bar's visible steps."""
    return math.floor(fraction * BAR_STEPS) / BAR_STEPS


def progress_view(session: TrainingSession, estimates: bool = True) -> dict[str, Any]:
    """The bottom bar's content. Without `estimates`, speed and time left are left out (the caller
    keeps the ones it showed)."""
    p = session.progress
    status = session.status
    if session.sample_progress is not None:
        done, total = session.sample_progress
        status = f'{status} ({done}/{total})'
    # after the last epoch the trainer's step count is back at 0: its steps are all done
    all_done = bool(p.max_epoch) and p.epoch >= p.max_epoch
    view: dict[str, Any] = {
        'epoch_text': (f'Epoch {min(p.epoch + 1, p.max_epoch) if p.max_epoch else 0} / {p.max_epoch}'
                       if session.run_id else 'Epoch –'),
        'step_text': (f'Step {p.max_step if all_done else p.epoch_step} / {p.max_step}'
                      if session.run_id else 'Step –'),
        'epoch_value': bar_value(p.epoch_fraction),
        'step_value': 1.0 if all_done else bar_value(p.step_fraction),
        'status': status,
    }
    if estimates:
        running = session.phase in (Phase.RUNNING, Phase.STOPPING)
        view['rate'] = format_rate(p.it_per_second) if running else ''
        view['eta'] = f'ETA {format_duration(p.eta_seconds)}' if running and p.eta_seconds is not None else ''
    return view


def outcome_message(summary: RunSummary) -> tuple[str, str]:
    """(text, notification type) for a run that ended."""
    if summary.outcome == Outcome.FINISHED:
        return f'Training finished after {format_duration(summary.duration)}', 'positive'
    if summary.outcome == Outcome.STOPPED:
        return 'Training stopped', 'info'
    return f'Training failed: {summary.error}', 'negative'


# chart titles for the tag groups OneTrainer logs; any other group gets its own chart under its name
GROUP_TITLES = {'loss': 'Loss', 'lr': 'Learning rate', 'validation': 'Validation loss'}
TRACE_STYLES = {
    'loss/train_step': {'name': 'loss', 'line': {'width': 1}, 'opacity': 0.45},
    'smooth_loss/train_step': {'name': 'smoothed loss', 'line': {'width': 2.5}},
}


def chart_group(tag: str) -> str:
    """The chart a scalar tag is drawn in: train loss and smoothed loss share one."""
    if tag.startswith('loss/validation_step'):
        return 'validation'
    head = tag.split('/', 1)[0]
    return 'loss' if head in ('loss', 'smooth_loss') else head


def group_title(group: str) -> str:
    return GROUP_TITLES.get(group, group.replace('_', ' ').capitalize())


def group_tags(tags: Iterable[str]) -> dict[str, list[str]]:
    """{chart group: its tags}, each in the order given."""
    grouped: dict[str, list[str]] = {}
    for tag in tags:
        grouped.setdefault(chart_group(tag), []).append(tag)
    return grouped


def sample_caption(record: SampleRecord) -> str:
    kind = 'custom sample' if record.custom else 'sample'
    return f'{kind} · step {record.step} · epoch {record.epoch + 1} · {record.prompt or "(no prompt)"}'
