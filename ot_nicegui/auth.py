"""Password protection for remote use: login page, logout, signed sessions, rate limiting.

On this machine only (a loopback host) the app stays open by default; on any other address it
refuses to start without a password unless `--no-auth` is given. Only a salted hash of the
password is kept in memory. A session is marked as logged in by a tag derived from the password
and the installation secret, so changing either logs every browser out.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import math
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware

from ot_nicegui.native import STATE_PATH as NATIVE_STATE_PATH

PASSWORD_ENV = 'OT_PASSWORD'
SECRET_FILE = '.ot_storage_secret'
LOGIN_PATH = '/login'
LOGOUT_PATH = '/logout'
SESSION_KEY = 'ot_auth'
# reachable without a session: the login page and what it needs (NiceGUI's assets and socket), and
# the REST API, which checks its own bearer tokens
PUBLIC_PREFIXES = ('/_nicegui/', '/_nicegui_ws/', '/api/')
# (the desktop window's close check is guarded by its own token)
PUBLIC_PATHS = frozenset({LOGIN_PATH, LOGOUT_PATH, '/favicon.ico', NATIVE_STATE_PATH})

# scrypt cost: about 30-60 ms per check on a small CPU, far too slow for guessing at scale
_SCRYPT = {'n': 2 ** 14, 'r': 8, 'p': 1, 'dklen': 32, 'maxmem': 64 * 1024 * 1024}


# ---- the installation secret ------------------------------------------------------------------------
def load_or_create_secret(data_dir: str | os.PathLike) -> str:
    """The persistent secret that signs session cookies; created on first run, readable only by
    its owner (the file is created with mode 0600, never widened afterwards)."""
    path = Path(data_dir) / SECRET_FILE
    try:
        value = path.read_text(encoding='utf-8').strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(value)
    os.chmod(path, 0o600)  # an older file with wider permissions is narrowed too
    return value


# ---- password hashing ---------------------------------------------------------------------------------
class PasswordHash:
    """A scrypt hash with a random salt; the password itself is not kept."""

    def __init__(self, password: str):
        if not password:
            raise ValueError('the password must not be empty')
        self._salt = secrets.token_bytes(16)
        self._digest = self._derive(password)

    def _derive(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode('utf-8'), salt=self._salt, **_SCRYPT)

    def verify(self, password: str) -> bool:
        if not isinstance(password, str):
            return False
        return hmac.compare_digest(self._derive(password), self._digest)


def session_tag(password: str, secret: str) -> str:
    """What a logged-in session stores: stable across restarts for the same password and secret,
    useless for logging in elsewhere and slow to invert."""
    salt = hmac.new(secret.encode('utf-8'), b'ot-session-salt', hashlib.sha256).digest()
    key = hashlib.scrypt(password.encode('utf-8'), salt=salt, **_SCRYPT)
    return hmac.new(secret.encode('utf-8'), b'ot-session:' + key, hashlib.sha256).hexdigest()


# ---- rate limiting ----------------------------------------------------------------------------------------
@dataclass
class RateLimiter:
    """At most `max_failures` failed logins per client address within `window` seconds."""

    max_failures: int = 5
    window: float = 60.0
    clock: object = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        stamps = self._failures.get(address, deque())
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if stamps:
            self._failures[address] = stamps
        else:
            self._failures.pop(address, None)
        return stamps

    def retry_after(self, address: str) -> float:
        """Seconds until `address` may try again; 0 when it may try now."""
        stamps = self._recent(address)
        if len(stamps) < self.max_failures:
            return 0.0
        return max(0.0, self.window - (self.clock() - stamps[0]))

    def failed(self, address: str) -> None:
        self._recent(address)
        self._failures.setdefault(address, deque()).append(self.clock())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


# ---- redirect targets ---------------------------------------------------------------------------------
def safe_redirect_target(target: object) -> str:
    """`target` when it is a path on this site, else '/'. Refuses other hosts in every spelling
    browsers accept: `//host`, `/\\host`, schemes, control characters, encoded slashes at the start."""
    if not isinstance(target, str) or not target.startswith('/') or len(target) > 2000:
        return '/'
    if '\\' in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return '/'
    if target.startswith('//') or target.lower().startswith(('/%2f', '/%5c')):
        return '/'
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return '/'
    if parts.path == LOGIN_PATH or parts.path == LOGOUT_PATH:
        return '/'
    return target


# ---- host checks and settings ---------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host in ('localhost', 'localhost.localdomain'):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


@dataclass
class Authenticator:
    """The password check shared by the login page and its tests."""

    password_hash: PasswordHash
    tag: str
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # attempts run one at a time: concurrent guesses cannot slip past the limiter
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_password(cls, password: str, secret: str) -> Authenticator:
        return cls(PasswordHash(password), session_tag(password, secret))

    def attempt(self, address: str, password: str) -> tuple[bool, str]:
        """(accepted, message for the login page)."""
        with self._lock:
            wait = self.limiter.retry_after(address)
            if wait > 0:
                return False, f'Too many attempts. Try again in {math.ceil(wait)} s.'
            if self.password_hash.verify(password):
                self.limiter.succeeded(address)
                return True, ''
            self.limiter.failed(address)
            return False, 'Wrong password.'

    def is_logged_in(self, storage: dict) -> bool:
        value = storage.get(SESSION_KEY)
        return isinstance(value, str) and hmac.compare_digest(value, self.tag)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('access')
    group.add_argument('--password', metavar='TEXT',
                       help=f'require this password to open the app (safer: the {PASSWORD_ENV} environment '
                            'variable, which other users cannot see in the process list); required on '
                            'any address other than 127.0.0.1/localhost')
    group.add_argument('--no-auth', action='store_true',
                       help='serve without a password even on a non-local address (only behind a proxy '
                            'that authenticates, or on a trusted network)')


def configure(host: str, password: str | None, no_auth: bool, secret: str) -> Authenticator | None:
    """The authenticator for these settings, None when the app stays open; exits when a
    non-local address has neither a password nor `--no-auth`. The password is taken out of the
    environment so that child processes never see it."""
    if multiprocessing.current_process().name != 'MainProcess':
        return None  # the native window's process re-runs main() but serves nothing
    from_env = os.environ.pop(PASSWORD_ENV, None)
    password = password or from_env or None
    if no_auth:
        if not is_loopback(host):
            print(f'WARNING: serving on {host} without a password (--no-auth): anyone who can reach '
                  'this address can read and change configs and start training.', file=sys.stderr)
        return None
    if password:
        return Authenticator.from_password(password, secret)
    if not is_loopback(host):
        raise SystemExit(f'Refusing to serve on {host} without a password: pass --password, set '
                         f'{PASSWORD_ENV}, or accept the risk with --no-auth.')
    return None


# ---- wiring into NiceGUI ----------------------------------------------------------------------------------
def _path_and_root(request: Request) -> tuple[str, str]:
    """The path as the app routes it, and the root path a proxy mounted it under (uvicorn prepends
    `root_path` to the path, X-Forwarded-Prefix is added by NiceGUI's own redirect middleware)."""
    root = request.scope.get('root_path', '') or ''
    path = request.url.path
    if root and path.startswith(root):
        path = path[len(root):] or '/'
    return path, root


class AuthMiddleware(BaseHTTPMiddleware):
    """Sends every request without a logged-in session to the login page."""

    def __init__(self, app, authenticator: Authenticator):
        super().__init__(app)
        self.authenticator = authenticator

    async def dispatch(self, request: Request, call_next) -> Response:
        from nicegui import app as nicegui_app

        path, root = _path_and_root(request)
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return await call_next(request)
        if self.authenticator.is_logged_in(nicegui_app.storage.user):
            return await call_next(request)
        if request.method not in ('GET', 'HEAD'):
            return Response('login required', status_code=401)
        target = path + (f'?{request.url.query}' if request.url.query else '')
        return RedirectResponse(f'{root}{LOGIN_PATH}?redirect_to={quote(target, safe="")}', status_code=303)


def client_address() -> str:
    """The browser's address (uvicorn already took it from X-Forwarded-For when the request came
    from a proxy on this machine)."""
    from nicegui import context

    request = context.client.request
    return request.client.host if request is not None and request.client else 'unknown'


def install(authenticator: Authenticator | None, title: str = 'OT NiceGUI') -> None:
    """Register the middleware, the login page and the logout route (call inside `main()`)."""
    from nicegui import app, run, ui

    if authenticator is None:
        return
    app.add_middleware(AuthMiddleware, authenticator=authenticator)

    @ui.page(LOGIN_PATH, title=f'Log in – {title}')
    def login_page(redirect_to: str = '/') -> None:
        target = safe_redirect_target(redirect_to)
        if authenticator.is_logged_in(app.storage.user):
            ui.navigate.to(target)
            return

        async def submit() -> None:
            button.disable()
            try:
                accepted, message = await run.io_bound(authenticator.attempt, client_address(), password.value or '')
            finally:
                button.enable()
            password.value = ''
            if accepted:
                app.storage.user[SESSION_KEY] = authenticator.tag
                ui.navigate.to(target)
            else:
                error.text = message
                error.set_visibility(True)

        with ui.card().classes('absolute-center w-80 max-w-full'):
            ui.label(title).classes('text-lg font-bold').props('role=heading aria-level=1')
            password = ui.input('Password', password=True, password_toggle_button=True) \
                .props('autofocus autocomplete=current-password').classes('w-full').mark('password')
            password.on('keydown.enter', submit)
            error = ui.label().classes('text-negative').props('role=alert').mark('login-error')
            error.set_visibility(False)
            button = ui.button('Log in', on_click=submit).classes('w-full').mark('login')

    @app.get(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        app.storage.user.pop(SESSION_KEY, None)
        _path, root = _path_and_root(request)
        return RedirectResponse(f'{root}{LOGIN_PATH}', status_code=303)


def logout_button() -> None:
    """The bottom bar's log-out button (shown when a password is asked)."""
    from nicegui import context, ui

    # a plain page load (not in-page navigation): the route is an HTTP endpoint, not a page
    ui.button(icon='logout', on_click=lambda: context.client.open(LOGOUT_PATH)) \
        .props('flat round dense aria-label="Log out"').tooltip('Log out').mark('logout')
