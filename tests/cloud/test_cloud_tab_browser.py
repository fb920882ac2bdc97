"""The Cloud tab's host-key check in Chromium, light and dark: typed host, fingerprint shown, trusted on the
button, no console errors."""
from __future__ import annotations

import os

import pytest

from modules.cloud.connection import fetch_host_key, fingerprint, known_hosts_path
from tests.browser.test_browser_tabs import CHROMIUM, _open, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed")


def test_host_key_is_checked_and_trusted_in_the_browser(server, pw_browser, ssh_server) -> None:  # noqa: F811
    url, data = server
    expected = fingerprint(fetch_host_key(ssh_server.host, ssh_server.port))
    errors: list[str] = []
    page = _open(pw_browser, url, errors)
    page.get_by_role("tab", name="Cloud", exact=True).click()
    page.get_by_label("Host", exact=True).fill(ssh_server.host)
    page.get_by_label("Port", exact=True).fill(str(ssh_server.port))
    for theme in ("light", "dark"):
        if (theme == "dark") != page.evaluate("document.body.classList.contains('body--dark')"):
            page.locator('[aria-label^="Switch to"]').click()
            page.wait_for_function(f"document.body.classList.contains('body--dark') === {str(theme == 'dark').lower()}")
        page.get_by_role("button", name="Check host key").click()
        if theme == "light":
            page.get_by_text(f"{expected} — not trusted yet", exact=False).wait_for()
            assert not known_hosts_path(data).exists()
            page.get_by_role("button", name="Trust this key").click()
        page.get_by_text(f"{expected} — trusted", exact=False).wait_for()
        assert page.get_by_role("button", name="Trust this key").count() == 0 or \
            not page.get_by_role("button", name="Trust this key").is_visible()
    assert expected.split(":", 1)[1] and known_hosts_path(data).is_file()
    assert page.get_by_role("button", name="Reattach").is_visible()
    page.close()
    assert not errors, errors
