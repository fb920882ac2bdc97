"""What can go wrong with a remote run, as one-line messages (no paramiko import: the CLI catches these)."""
from __future__ import annotations


class CloudError(Exception):
    """A remote run could not start or went wrong; the message is one line meant for the user."""


class UnknownHostKey(CloudError):
    """The host's key is not in the known-hosts file yet: the user must confirm its fingerprint."""

    def __init__(self, host: str, port: int, key_type: str, fingerprint: str, known_hosts: str, changed: bool = False):
        self.host, self.port, self.key_type, self.fingerprint = host, port, key_type, fingerprint
        self.known_hosts, self.changed = known_hosts, changed
        if changed:
            text = (f"the host key of {host}:{port} changed ({key_type} {fingerprint}); if that is expected, remove "
                    f"its line from {known_hosts}")
        else:
            text = (f"unknown host key of {host}:{port}: {key_type} {fingerprint}; to trust it run "
                    f"python -m modules.cloud.hostkey --host {host} --port {port} --accept {fingerprint}")
        super().__init__(text)
