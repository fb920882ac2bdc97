"""The job queue and API tokens, kept in one SQLite file in the data folder.

A job is a self-contained config (concepts and samples inlined, secrets left out) with a place in
the queue and a state. Everything is written at once, so the queue survives a restart; a job that
was running when the app died is found at the next start and marked interrupted. API tokens are
kept as SHA-256 digests only: a stolen database file logs nobody in.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

FILE_NAME = 'jobs.sqlite3'
TOKEN_PREFIX = 'otk_'


class JobState(StrEnum):
    QUEUED = 'queued'
    RUNNING = 'running'
    DONE = 'done'
    FAILED = 'failed'
    STOPPED = 'stopped'
    INTERRUPTED = 'interrupted'  # the app ended while it ran; it can resume from its last backup


FINISHED_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.STOPPED, JobState.INTERRUPTED})


class JobError(Exception):
    """A request the queue cannot follow; the message says why. `kind`: 'missing' (no such job or
    token), 'invalid' (not a usable config), 'conflict' (not possible in the job's state)."""

    def __init__(self, message: str, kind: str = 'conflict'):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    state: JobState
    position: int  # order among the jobs; only queued jobs are taken, lowest first
    created_at: float
    started_at: float | None
    ended_at: float | None
    message: str  # why it failed or was refused; empty otherwise
    resume: bool  # the next start continues from the last backup
    config: dict

    def summary(self) -> dict:
        """The job without its config, as the API lists it."""
        return {'id': self.id, 'name': self.name, 'state': self.state.value, 'position': self.position,
                'created_at': self.created_at, 'started_at': self.started_at, 'ended_at': self.ended_at,
                'message': self.message, 'resume': self.resume,
                'model_type': self.config.get('model_type'), 'training_method': self.config.get('training_method')}


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: float
    last_used_at: float | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    message TEXT NOT NULL DEFAULT '',
    resume INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL
);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode('utf-8')).hexdigest()


class JobStore:
    """Thread-safe access to the queue file (the trainer's thread and the web server share it)."""

    def __init__(self, path: str | Path, clock=time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.executescript(_SCHEMA)
        self.path.chmod(0o600)  # configs name folders and hold token digests: owner only

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> JobStore:
        return cls(Path(data_dir) / FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute('BEGIN IMMEDIATE')
            try:
                yield self._db
            except BaseException:
                self._db.execute('ROLLBACK')
                raise
            self._db.execute('COMMIT')

    # ---- jobs -----------------------------------------------------------------------------------------
    def add(self, config: dict, name: str = '') -> Job:
        if not isinstance(config, dict):
            raise JobError('a job needs a config object', 'invalid')
        name = (name or '').strip() or _default_name(config)
        with self._transaction() as db:
            position = db.execute('SELECT COALESCE(MAX(position), 0) + 1 FROM jobs').fetchone()[0]
            cursor = db.execute(
                'INSERT INTO jobs (name, state, position, created_at, config) VALUES (?, ?, ?, ?, ?)',
                (name, JobState.QUEUED.value, position, self._clock(), json.dumps(config)))
            job_id = cursor.lastrowid
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self._lock:
            row = self._db.execute('SELECT * FROM jobs WHERE id = ?', (int(job_id),)).fetchone()
        if row is None:
            raise JobError(f'there is no job {job_id}', 'missing')
        return _job(row)

    def jobs(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute('SELECT * FROM jobs ORDER BY position, id').fetchall()
        return [_job(row) for row in rows]

    def next_queued(self) -> Job | None:
        with self._lock:
            row = self._db.execute('SELECT * FROM jobs WHERE state = ? ORDER BY position, id LIMIT 1',
                                   (JobState.QUEUED.value,)).fetchone()
        return None if row is None else _job(row)

    def remove(self, job_id: int) -> None:
        job = self.get(job_id)
        if job.state == JobState.RUNNING:
            raise JobError(f'job {job_id} ({job.name}) is running: stop it first')
        with self._transaction() as db:
            db.execute('DELETE FROM jobs WHERE id = ?', (job.id,))

    def move(self, job_id: int, position: int) -> list[Job]:
        """Put the job at `position` (0 = first) of the list; the others keep their order."""
        job = self.get(job_id)
        with self._transaction() as db:
            ids = [row[0] for row in db.execute('SELECT id FROM jobs ORDER BY position, id')]
            ids.remove(job.id)
            ids.insert(max(0, min(int(position), len(ids))), job.id)
            db.executemany('UPDATE jobs SET position = ? WHERE id = ?',
                           [(index + 1, jid) for index, jid in enumerate(ids)])
        return self.jobs()

    def requeue(self, job_id: int, *, resume: bool) -> Job:
        """Queue a finished job again; `resume` continues from its last backup."""
        job = self.get(job_id)
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            raise JobError(f'job {job_id} ({job.name}) is {job.state.value} already')
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state = ?, resume = ?, message = '', started_at = NULL, ended_at = NULL "
                       'WHERE id = ?', (JobState.QUEUED.value, int(resume), job.id))
        return self.get(job.id)

    def mark_running(self, job_id: int) -> None:
        with self._transaction() as db:
            db.execute('UPDATE jobs SET state = ?, started_at = ?, ended_at = NULL WHERE id = ?',
                       (JobState.RUNNING.value, self._clock(), int(job_id)))

    def mark_finished(self, job_id: int, state: JobState, message: str = '') -> None:
        if state not in FINISHED_STATES:
            raise ValueError(f'{state} is not a finished state')
        with self._transaction() as db:
            db.execute('UPDATE jobs SET state = ?, ended_at = ?, message = ? WHERE id = ?',
                       (state.value, self._clock(), message, int(job_id)))

    def recover(self) -> list[Job]:
        """Mark the jobs that were running when the app ended as interrupted; returns them."""
        with self._transaction() as db:
            ids = [row[0] for row in db.execute('SELECT id FROM jobs WHERE state = ?', (JobState.RUNNING.value,))]
            db.executemany('UPDATE jobs SET state = ?, ended_at = ?, message = ? WHERE id = ?',
                           [(JobState.INTERRUPTED.value, self._clock(),
                             'the app ended while this job ran', jid) for jid in ids])
        return [self.get(jid) for jid in ids]

    # ---- API tokens -----------------------------------------------------------------------------------
    def create_token(self, name: str) -> tuple[TokenInfo, str]:
        """A new token: its record and the token itself, which is shown once and never stored."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._transaction() as db:
            cursor = db.execute('INSERT INTO tokens (name, digest, created_at) VALUES (?, ?, ?)',
                                ((name or '').strip() or 'API token', _digest(token), self._clock()))
            token_id = cursor.lastrowid
        return next(t for t in self.tokens() if t.id == token_id), token

    def tokens(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._db.execute('SELECT id, name, created_at, last_used_at FROM tokens ORDER BY id').fetchall()
        return [TokenInfo(row['id'], row['name'], row['created_at'], row['last_used_at']) for row in rows]

    def revoke_token(self, token_id: int) -> None:
        with self._transaction() as db:
            if db.execute('DELETE FROM tokens WHERE id = ?', (int(token_id),)).rowcount == 0:
                raise JobError(f'there is no token {token_id}', 'missing')

    def check_token(self, token: str) -> bool:
        """True when `token` was issued and not revoked (its use is recorded)."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            return False
        with self._transaction() as db:  # a lookup by the digest: the token itself is never compared
            cursor = db.execute('UPDATE tokens SET last_used_at = ? WHERE digest = ?', (self._clock(), _digest(token)))
            if cursor.rowcount == 0:
                return False
        return True


def _job(row: sqlite3.Row) -> Job:
    return Job(id=row['id'], name=row['name'], state=JobState(row['state']), position=row['position'],
               created_at=row['created_at'], started_at=row['started_at'], ended_at=row['ended_at'],
               message=row['message'], resume=bool(row['resume']), config=json.loads(row['config']))


def _default_name(config: dict) -> str:
    output = str(config.get('output_model_destination') or '').replace('\\', '/').rsplit('/', 1)[-1]
    return output or f"{config.get('model_type', 'model')} {config.get('training_method', '')}".strip()
