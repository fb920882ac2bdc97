"""The debug report: one zip that says what a user ran, on what, and what the app logged.

It holds the config with its concepts and samples (secrets removed, and no secret values kept in
anything else), the versions of Python and the libraries that matter, the machine (OS, CPU, RAM,
GPUs) and the last log lines of this process, which a ring buffer keeps from start-up on.
"""
from __future__ import annotations

import io
import json
import logging
import platform
import subprocess
import sys
import time
import traceback
import zipfile
from collections import deque
from importlib import metadata
from pathlib import Path

LOG_LINES = 2000
PACKAGES = ('torch', 'diffusers', 'transformers', 'peft', 'accelerate', 'safetensors', 'nicegui', 'torchao',
            'bitsandbytes', 'numpy', 'pillow', 'av')
ROOT = Path(__file__).resolve().parents[2]


class RecentLog(logging.Handler):
    """The last `LOG_LINES` records of the process, formatted."""

    def __init__(self, capacity: int = LOG_LINES):
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            self.handleError(record)


_RECENT: RecentLog | None = None


def keep_recent_log() -> RecentLog:
    """Start keeping the process's log lines (once per process)."""
    global _RECENT
    if _RECENT is None:
        _RECENT = RecentLog()
        logging.getLogger().addHandler(_RECENT)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)
    return _RECENT


def versions() -> dict[str, str]:
    found = {'python': sys.version.split()[0], 'platform': platform.platform()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = 'not installed'
    found['ot-nicegui'] = _own_version()
    return found


def _own_version() -> str:
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True,
                                timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ''
    try:
        version = metadata.version('ot-nicegui')
    except metadata.PackageNotFoundError:
        version = 'unknown'
    return f'{version} ({commit})' if commit else version


def system() -> dict:
    import psutil

    from .system_monitor import get_monitor

    monitor = get_monitor()
    reading = monitor.read()
    return {
        'os': platform.platform(), 'machine': platform.machine(), 'cpu_count': psutil.cpu_count(),
        'ram_total_gib': round(psutil.virtual_memory().total / 2 ** 30, 1),
        'gpus': [{'name': g.name, 'memory_total_gib': round((g.memory_total or 0) / 2 ** 30, 1)} for g in reading.gpus],
        'gpu_source': monitor.gpu_source, 'no_gpu_reason': '' if reading.gpus else monitor.no_gpu_reason,
    }


def _config(config_session) -> tuple[dict, str]:
    """The config as an exported pack (secrets removed), and a note when the lists could not be read."""
    try:
        return config_session.export_pack(), ''
    except Exception as exc:  # noqa: BLE001 - a broken concept file still leaves the settings to report
        data = config_session.config.to_settings_dict(secrets=False)
        return data, f'concepts or samples could not be read: {exc}'


def build(config_session, training_session=None) -> bytes:
    """The report as zip bytes."""
    config, note = _config(config_session)
    secret_values = _secret_values(config_session)
    run = {}
    if training_session is not None and training_session.summary is not None:
        summary = training_session.summary
        run = {'status': training_session.status, 'model_type': summary.model_type,
               'training_method': summary.training_method, 'outcome': summary.outcome,
               'error': summary.error, 'traceback': summary.traceback}
    lines = list(_RECENT.lines) if _RECENT is not None else []
    files = {
        'config.json': json.dumps(config, indent=2),
        'versions.json': json.dumps(versions(), indent=2),
        'system.json': json.dumps(_safely(system), indent=2),
        'run.json': json.dumps(run, indent=2, default=str),
        'log.txt': '\n'.join(lines) + ('\n' if lines else ''),
        'README.txt': f'Debug report written {time.strftime("%Y-%m-%d %H:%M:%S")}.\n'
                      f'Secrets are removed from the config.{" " + note if note else ""}\n',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, _redacted(text, secret_values))
    return buffer.getvalue()


def _safely(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a report without system facts is still a report
        return {'error': traceback.format_exc(limit=2)}


def _secret_values(config_session) -> list[str]:
    """Every non-trivial string of the secrets, to be blanked wherever it shows up (a token pasted into
    a path, a log line that quoted one)."""
    try:
        data = config_session.config.secrets.to_dict()
    except Exception:  # noqa: BLE001
        return []
    values: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, str) and len(value) >= 4 and value not in ('root', 'none'):
            values.append(value)

    walk(data)
    return values


def _redacted(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, '<secret>')
    return text
