"""A local port forwarded through the SSH connection to a port on the remote machine's loopback
(what `ssh -L` does), for the remote run's TensorBoard: each connection to 127.0.0.1:<local port>
here becomes a `direct-tcpip` channel to 127.0.0.1:<remote port> there."""
from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable

import paramiko

log = logging.getLogger(__name__)
CHUNK = 65536
_OPEN: list[PortForward] = []  # the forwards of this process, newest last (the TensorBoard tab shows the newest)


def newest_url() -> str | None:
    """The address of the newest open forward (a remote run's TensorBoard), or None."""
    return _OPEN[-1].url if _OPEN else None


class PortForward:
    """Listens on 127.0.0.1 (a free port unless `local_port` is given) until `close`. `transport`
    answers the connection's current transport, so a forward outlives a reconnect."""

    def __init__(self, transport: Callable[[], paramiko.Transport | None], remote_port: int, local_port: int = 0):
        self.transport, self.remote_port = transport, int(remote_port)
        self._listener = socket.create_server(("127.0.0.1", local_port))
        self._listener.settimeout(0.5)
        self.local_port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="tunnel-accept", daemon=True)
        self._accepting.start()
        _OPEN.append(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}/"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._relay, args=(client, peer), name="tunnel-relay", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _relay(self, client: socket.socket, peer) -> None:
        transport = self.transport()
        try:
            if transport is None or not transport.is_active():
                raise paramiko.SSHException("no connection")
            channel = transport.open_channel("direct-tcpip", ("127.0.0.1", self.remote_port), peer, timeout=10)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            log.info("nothing answers on port %d of the remote machine: %s", self.remote_port, exc)
            client.close()
            return
        try:
            with client, channel:
                while not self._closed.is_set():
                    ready, _, _ = select.select([client, channel], [], [], 0.5)
                    if client in ready:
                        data = client.recv(CHUNK)
                        if not data:
                            break
                        channel.sendall(data)
                    if channel in ready:
                        data = channel.recv(CHUNK)
                        if not data:
                            break
                        client.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # either side went away

    def close(self) -> None:
        if self in _OPEN:
            _OPEN.remove(self)
        self._closed.set()
        self._listener.close()
        self._accepting.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)
