"""A round-robin HTTP load balancer on 127.0.0.1 in the test process, in front of several server
processes: each request (not each connection: the official client keeps its connections alive)
goes to the next backend in turn, so that one client's consecutive calls reach different servers.

Bodies are read whole, with a Content-Length or chunked, and answers are sent back with a
Content-Length. Each client connection is a thread holding its own keep-alive connection to each
backend, replaced before use once idle for IDLE_REUSE seconds (less than gunicorn's keep-alive,
so that a backend never closes one under a request: a request is never sent twice).
`counts` holds how many requests each backend answered."""
from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}
IDLE_REUSE = 2.0  # seconds; gunicorn closes idle keep-alive connections after 5


class RoundRobinProxy:
    def __init__(self, backends: list[tuple[str, int]]):
        self.backends = backends
        self.counts = [0] * len(backends)
        self._turn = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.upstreams: dict[int, tuple[http.client.HTTPConnection, float]] = {}

            def forward(self):
                body = self._body()
                index = proxy._next()
                conn = self._upstream(index)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
                self.upstreams[index] = (conn, time.monotonic())
                with proxy._lock:
                    proxy.counts[index] += 1
                self.send_response_only(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

            def _body(self) -> bytes | None:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            def _upstream(self, index: int) -> http.client.HTTPConnection:
                conn, used = self.upstreams.pop(index, (None, 0.0))
                if conn is not None and time.monotonic() - used < IDLE_REUSE:
                    return conn
                if conn is not None:
                    conn.close()
                return http.client.HTTPConnection(*proxy.backends[index], timeout=120)

            def finish(self):
                super().finish()
                for conn, _ in self.upstreams.values():
                    conn.close()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _next(self) -> int:
        with self._lock:
            index = self._turn
            self._turn = (index + 1) % len(self.backends)
        return index

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
