"""A TCP proxy on 127.0.0.1 in the test process, between the server and a database, to play a
database's faults without touching the shared database service:

- `drop(refuse_for)` closes every connection through it (both ends, with a reset) and then,
  for `refuse_for` seconds, closes each new connection as soon as it is accepted: a restart.
- `stall()` until `resume()` accepts connections but forwards nothing either way (bytes wait
  in the socket buffers): a stopped (SIGSTOP-ed) or unreachable database. `resume()` lets them
  flow again.

`open_connections()` counts the connections its clients (the server under test) hold open.
Each connection is two threads, one per direction; `close()` ends everything."""
from __future__ import annotations

import socket
import struct
import threading
import time


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._refuse_until = 0.0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self, refuse_for: float = 0.0) -> None:
        self._refuse_until = time.monotonic() + refuse_for
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _reset(sock)

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def open_connections(self) -> int:
        """Connections to the proxy that are open at the client's end: ESTABLISHED sockets of
        this machine whose remote end is the proxy's port (/proc/net/tcp). A client that has
        closed its end is not counted, even while the proxy has not noticed it (stalled)."""
        count = 0
        for line in open("/proc/net/tcp").read().splitlines()[1:]:
            remote, state = line.split()[2:4]
            if state == "01" and int(remote.split(":")[1], 16) == self.port:
                count += 1
        return count

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.resume()
        self.drop()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if time.monotonic() < self._refuse_until:
                _reset(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._track(client)
        self._flowing.wait()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        if not self._track(upstream) or not self._tracked(client):  # dropped meanwhile
            _reset(upstream)
            _reset(client)
            return
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._sockets.add(sock)
            return True

    def _tracked(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._sockets

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self._flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a stall that began during recv holds this chunk too
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with self._lock:
                self._sockets.discard(sock)
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a dying server's kernel does, rather than a polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)  # wakes a thread blocked in recv on it; close() alone may not
    except OSError:
        pass
    sock.close()
