"""A real OpenSSH server on 127.0.0.1 for the session; the "remote machine" is a temporary folder."""
from __future__ import annotations

import pytest

pytest.importorskip("paramiko")
from tests.engine.conftest import image_dir, make_config, tiny_model  # noqa: E402,F401 - the tiny run's fixtures

from .light import light_env  # noqa: E402,F401 - a light client's environment
from .sshd import SSHDUnavailable, password_login, running_sshd, trust  # noqa: E402


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    try:
        with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server
    except SSHDUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def password_server(tmp_path_factory):
    """A second server that takes only the test user's password, for one test: it holds the machine-wide
    password lock (see `password_login`) only while a test needs it."""
    try:
        with password_login(tmp_path_factory.mktemp("sshd-password")) as server:
            yield server
    except SSHDUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def trusted(ssh_server, tmp_path):
    """A data folder whose known-hosts file trusts the test server."""
    return trust(ssh_server, tmp_path)
