"""Password hashing, sessions, rate limiting, redirect targets and start-up refusal (no server)."""
from __future__ import annotations

import hmac
import os
import stat

import pytest

from ot_nicegui import auth


def test_hash_accepts_only_the_password_and_keeps_no_plain_copy():
    hashed = auth.PasswordHash('correct horse')
    assert hashed.verify('correct horse')
    for wrong in ('correct horse ', 'Correct horse', '', 'correct hors', None, 42):
        assert not hashed.verify(wrong)
    assert 'correct horse' not in repr(vars(hashed))
    assert b'correct horse' not in b''.join(v for v in vars(hashed).values() if isinstance(v, bytes))


def test_two_hashes_of_one_password_differ_by_salt():
    assert vars(auth.PasswordHash('pw'))['_digest'] != vars(auth.PasswordHash('pw'))['_digest']


def test_verification_compares_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, 'compare_digest', spy)
    assert not auth.PasswordHash('pw').verify('nope')
    assert calls == [(32, 32)]


def test_session_tag_depends_on_password_and_secret():
    tag = auth.session_tag('pw', 'secret-a')
    assert tag == auth.session_tag('pw', 'secret-a')  # survives a restart
    assert tag != auth.session_tag('pw2', 'secret-a')  # a new password logs everyone out
    assert tag != auth.session_tag('pw', 'secret-b')
    assert 'pw' not in tag


def test_logged_in_only_with_the_exact_tag():
    authenticator = auth.Authenticator.from_password('pw', 'secret')
    assert authenticator.is_logged_in({auth.SESSION_KEY: authenticator.tag})
    for storage in ({}, {auth.SESSION_KEY: ''}, {auth.SESSION_KEY: True}, {auth.SESSION_KEY: authenticator.tag[:-1]},
                    {'authenticated': True}):
        assert not authenticator.is_logged_in(storage)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limit_per_address_and_window():
    clock = FakeClock()
    authenticator = auth.Authenticator.from_password('pw', 'secret')
    authenticator.limiter = auth.RateLimiter(max_failures=3, window=60, clock=clock)
    for _ in range(3):
        assert authenticator.attempt('10.0.0.1', 'guess') == (False, 'Wrong password.')
    accepted, message = authenticator.attempt('10.0.0.1', 'pw')  # even the right password waits
    assert not accepted and message.startswith('Too many attempts') and '60 s' in message
    assert authenticator.attempt('10.0.0.2', 'pw') == (True, '')  # other addresses are not affected
    clock.now += 59.0
    assert not authenticator.attempt('10.0.0.1', 'pw')[0]
    clock.now += 1.0
    assert authenticator.attempt('10.0.0.1', 'pw') == (True, '')
    assert authenticator.limiter.retry_after('10.0.0.1') == 0  # success clears the record


@pytest.mark.parametrize('target', [
    '//evil.example', '//evil.example/path', '///evil.example', '/\\evil.example', '\\\\evil.example',
    '/\\/evil.example', 'https://evil.example', 'http:/evil.example', 'javascript:alert(1)',
    'evil.example', '', ' /', '/%2F%2Fevil.example', '/%2fevil.example', '/%5Cevil.example',
    '/\t/evil.example', '/\n/evil.example', '/\x00', '//', None, 123, '/login', '/logout', '/' + 'a' * 3000,
])
def test_redirect_targets_outside_the_site_fall_back_to_root(target):
    assert auth.safe_redirect_target(target) == '/'


@pytest.mark.parametrize('target', ['/', '/?tab=help', '/?tab=help&doc=remote#nginx', '/run', '/a/b%20c'])
def test_local_redirect_targets_are_kept(target):
    assert auth.safe_redirect_target(target) == target


@pytest.mark.parametrize('host', ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost'])
def test_loopback_hosts(host):
    assert auth.is_loopback(host)


@pytest.mark.parametrize('host', ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.org', 'localhost.evil'])
def test_non_loopback_hosts(host):
    assert not auth.is_loopback(host)


def test_start_is_refused_on_a_public_address_without_password(monkeypatch):
    monkeypatch.delenv(auth.PASSWORD_ENV, raising=False)
    with pytest.raises(SystemExit, match='without a password'):
        auth.configure('0.0.0.0', None, False, 'secret')


def test_no_auth_warns_on_a_public_address(monkeypatch, capsys):
    monkeypatch.delenv(auth.PASSWORD_ENV, raising=False)
    assert auth.configure('0.0.0.0', None, True, 'secret') is None
    assert 'WARNING' in capsys.readouterr().err
    assert auth.configure('127.0.0.1', None, True, 'secret') is None
    assert capsys.readouterr().err == ''


def test_loopback_is_open_unless_a_password_is_set(monkeypatch):
    monkeypatch.delenv(auth.PASSWORD_ENV, raising=False)
    assert auth.configure('127.0.0.1', None, False, 'secret') is None
    authenticator = auth.configure('127.0.0.1', 'pw', False, 'secret')
    assert authenticator is not None and authenticator.password_hash.verify('pw')


def test_password_from_the_environment_is_removed_from_it(monkeypatch):
    monkeypatch.setenv(auth.PASSWORD_ENV, 'from-env')
    authenticator = auth.configure('0.0.0.0', None, False, 'secret')
    assert authenticator.password_hash.verify('from-env')
    assert auth.PASSWORD_ENV not in os.environ  # child processes never see it


def test_secret_is_created_private_and_kept(tmp_path):
    first = auth.load_or_create_secret(tmp_path / 'data')
    path = tmp_path / 'data' / auth.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 40 and auth.load_or_create_secret(tmp_path / 'data') == first
    path.chmod(0o644)
    path.write_text('')  # an emptied file gets a new secret, written privately again
    second = auth.load_or_create_secret(tmp_path / 'data')
    assert second and second != first and stat.S_IMODE(path.stat().st_mode) == 0o600
