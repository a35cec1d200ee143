"""The gunicorn worker: gthread's threads, behind a front that reads each request first.

gthread hands a connection to a thread as soon as it has a byte to read, and the thread then
reads the head and the body at the client's pace: fifty clients sending a header line every
2 s held all 32 threads of the default server, and answered nothing else for as long as they
kept on. Here the worker's main loop (gthread's selector) reads the head, and a body of up to
BUFFERED_BODY bytes, without blocking; only a complete request reaches a thread. A slow or
stalled client costs a socket and its buffer, never a thread:
- the head must arrive within `header_timeout` seconds of the connection being ready for it
  (accepted, or kept alive with a first byte of the next request), and be at most MAX_HEAD
  bytes (a request line naming 1000 runs is 42 KiB; gunicorn's own limit is 8 KiB);
- a body may pause at most `body_timeout` seconds between reads;
- a connection kept alive is closed after gunicorn's `keepalive` seconds of silence.
Too slow, the client gets 408; too big a head, 431.

A bigger body (an artifact upload, any size) is streamed to the application as it arrives, by
a thread of a second pool (STREAM_THREADS_PER_THREAD times the size of the first), whose socket
reads wait at most `body_timeout` seconds: stalled uploads can take only that pool's threads,
never those answering the API. A thread's writes wait `body_timeout` seconds at most too, so a
client that stops reading its answer is dropped.

The body of a request answered without reading it (an unknown route, a refusal) must not be
taken for the next request on the connection. A buffered body is dropped from memory; for a
streamed one the answer says `Connection: close` (gthread kept the connection alive and then
closed it, and the client's next request failed). Connections close as RFC 9112 asks (send
FIN, read what the client still sends, then close) in the main loop, without blocking it: a
client that never closes its side holds a socket for LINGER seconds, not the loop.

The front reads plain HTTP/1.1: with TLS in gunicorn (--certfile) the server runs plain gthread
instead (see GunicornServer), and HTTP/2 is not offered.
"""
from __future__ import annotations

import json
import re
import selectors
import socket
import time
from concurrent import futures
from functools import partial

from gunicorn import http
from gunicorn.http.body import LengthReader
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import ClientDisconnected

MAX_HEAD = 128 * 1024
BUFFERED_BODY = 1024 * 1024
STREAM_THREADS_PER_THREAD = 4
LINGER = 2.0  # seconds a closing connection may stay silent before it is cut
LINGER_BYTES = 64 * 1024 * 1024  # what is read and dropped at most (a refused upload's rest)
RECV_SIZE = 256 * 1024
# the headers that say how a body is framed, or that its client waits for "100 Continue"
_FRAMING = re.compile(rb"^(content-length|transfer-encoding|expect)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$",
                      re.IGNORECASE | re.MULTILINE)


class Conn(TConn):
    """A client connection: gthread's, plus what the front has read of its next request."""

    def __init__(self, worker: "Worker", sock, client, server):
        super().__init__(worker.cfg, sock, client, server)
        self.worker = worker
        self.inbox = bytearray()
        self.head_end = -1  # where the head ends in inbox, once it has arrived
        self.length: int | None = None  # of the body to buffer; None: streamed
        self.watched = False  # by the poller, for more of the request
        self.deadline = 0.0
        self.drained = 0

    def close(self, graceful=False):
        if graceful:
            self.worker.linger(self)
        else:
            super().close()


class Worker(ThreadWorker):
    def init_process(self):
        settings = self.app.settings
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.stream_pool = futures.ThreadPoolExecutor(self.cfg.threads * STREAM_THREADS_PER_THREAD,
                                                      thread_name_prefix="stream")
        self.receiving: set[Conn] = set()
        self.lingering: set[Conn] = set()
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = _streaming_bodies(self.wsgi)

    def run(self):
        try:
            super().run()
        finally:
            self.stream_pool.shutdown(wait=False)

    def accept(self, listener):
        try:
            sock, client = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self.nr_conns += 1
        self.enqueue_req(Conn(self, sock, client, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection has the first bytes of its next request."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.enqueue_req(conn)

    def enqueue_req(self, conn: Conn):
        """Where gthread gives a connection to a thread: here its request is read first."""
        conn.sock.setblocking(False)
        if conn.parser is not None:  # bytes of the next request, read ahead with the last one
            conn.inbox += conn.parser.unreader.take_buffered()
        conn.head_end = -1
        conn.deadline = time.monotonic() + self.header_timeout
        self.receiving.add(conn)
        self.receive(conn)  # what has arrived: usually the whole request, with no wait in the poller

    def receive(self, conn: Conn, _sock=None):
        data = _recv(conn)
        if data == b"":  # the client is gone
            self.forget(conn)
            self.nr_conns -= 1
            conn.close()
            return
        if data:
            conn.inbox += data
            if conn.head_end >= 0:
                conn.deadline = time.monotonic() + self.body_timeout
        self.examine(conn)
        if conn in self.receiving and not conn.watched:  # more to come
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.receive, conn))
            conn.watched = True

    def examine(self, conn: Conn):
        """Hand the request to a thread once it has arrived (or its head, for a big body)."""
        if conn.head_end < 0:
            end = conn.inbox.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                if len(conn.inbox) > MAX_HEAD:
                    self.refuse(conn, "431 Request Header Fields Too Large",
                                f"The request line and headers exceed {MAX_HEAD // 1024} KiB")
                return
            conn.head_end = end + 4
            conn.deadline = time.monotonic() + self.body_timeout
            conn.length = _buffered_length(bytes(conn.inbox[:conn.head_end]))
        if conn.length is None:
            self.dispatch(conn, self.stream_pool)
        elif len(conn.inbox) >= conn.head_end + conn.length:
            self.dispatch(conn, self.tpool)

    def dispatch(self, conn: Conn, pool: futures.ThreadPoolExecutor):
        self.forget(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(conn.inbox))
        conn.inbox.clear()
        future = pool.submit(self.handle, conn)
        future.add_done_callback(lambda done: self.method_queue.defer(self.finish_request, conn, done))

    def handle(self, conn: Conn):
        """One request, in a thread: whether the connection stays open for the next."""
        req = None
        try:
            conn.sock.settimeout(self.body_timeout)
            req = next(conn.parser)
            return bool(req) and self._keepalive_after(conn, self.handle_request(req, conn))
        except (http.errors.NoMoreData, StopIteration, OSError) as error:  # gone, or stalled
            self.log.debug("closing a connection: %r", error)
        except Exception as error:  # a malformed request: gunicorn's 400
            self.handle_error(req, conn.sock, conn.client, error)
        return False

    def _keepalive_after(self, conn, keepalive):
        """gthread drains at most 64 KiB of an unread body; one the front buffered is all in
        memory, and is dropped from there whatever its size."""
        if keepalive and _body_buffered(conn.parser.mesg.body):
            return bool(conn.parser.finish_body())
        return super()._keepalive_after(conn, keepalive)

    def refuse(self, conn: Conn, status: str, message: str):
        """Answer a request that cannot be read, in MLflow's error format, and close."""
        self.forget(conn)
        self.nr_conns -= 1
        body = json.dumps({"error_code": "BAD_REQUEST", "message": message}).encode()
        try:
            conn.sock.send(f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            pass
        self.linger(conn)

    def forget(self, conn: Conn):
        self.receiving.discard(conn)
        if conn.watched:
            self.poller.unregister(conn.sock)
            conn.watched = False

    def linger(self, conn: Conn):
        """Close as RFC 9112 section 9.6 asks, without blocking the loop: FIN first, then what
        the client still sends (the rest of a body it was answered before sending) is read and
        dropped until it closes too, stays silent for LINGER seconds, or sent LINGER_BYTES; the
        client then reads its answer instead of failing to send."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.sock.close()
            return
        conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + LINGER
        conn.drained = 0
        self.lingering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn: Conn, _sock=None):
        data = _recv(conn)
        if data is None:
            return
        conn.drained += len(data)
        conn.deadline = time.monotonic() + LINGER
        if not data or conn.drained > LINGER_BYTES:
            self._cut(conn)

    def _cut(self, conn: Conn):
        self.lingering.discard(conn)
        self.poller.unregister(conn.sock)
        conn.sock.close()

    def murder_pending(self):
        """Called by gthread's loop once a second at least: the front's time limits. A stopping
        worker also closes the connections that have not begun a request."""
        now = time.monotonic()
        for conn in [c for c in self.receiving if c.deadline <= now or not (self.alive or c.inbox)]:
            if conn.inbox:
                self.refuse(conn, "408 Request Timeout", "The request did not arrive in time")
            else:
                self.forget(conn)
                self.nr_conns -= 1
                conn.close()
        for conn in [c for c in self.lingering if c.deadline <= now]:
            self._cut(conn)


def _recv(conn: Conn) -> bytes | None:
    """What a readable connection has: None if nothing after all, b"" once it is closed."""
    try:
        return conn.sock.recv(RECV_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _buffered_length(head: bytes) -> int | None:
    """The length of the body to read before the request goes to a thread, from its head; None
    for a body to stream: a big one, a chunked one, or one whose client waits for "100
    Continue" (sent by gunicorn in the thread). gunicorn's parser answers 400 to a malformed
    length, in the thread too."""
    framing = {name.lower(): value for name, value in _FRAMING.findall(head)}
    length = framing.get(b"content-length", b"0")
    if b"transfer-encoding" in framing or b"expect" in framing or not length.isdigit() \
            or int(length) > BUFFERED_BODY:
        return None
    return int(length)


def _body_buffered(body) -> bool:
    """Whether all that is left of a request's body is in memory (or there is none)."""
    reader = body.reader
    if not isinstance(reader, LengthReader):
        return False
    with reader.unreader.buf.getbuffer() as held:
        return reader.length <= held.nbytes


def _streaming_bodies(app):
    """For a body streamed to the application: a client that stalls past the body timeout or
    goes away gives werkzeug's ClientDisconnected (a 400, not an error in the log), and an
    answer that starts before the body was read says `Connection: close` (gunicorn would
    promise keep-alive, then close when it could not drain the rest)."""
    def wrapped(environ, start_response):
        body = environ["wsgi.input"]
        if _body_buffered(body):
            return app(environ, start_response)
        environ["wsgi.input"] = _StreamedBody(body)

        def start(status, headers, exc_info=None):
            if not _body_buffered(body):
                start_response.__self__.force_close()  # the gunicorn Response answering
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return wrapped


class _StreamedBody:
    def __init__(self, body):
        self._body = body

    def read(self, *size):
        return self._reading(self._body.read, *size)

    def readline(self, *size):
        return self._reading(self._body.readline, *size)

    def __iter__(self):
        return iter(self.readline, b"")

    @staticmethod
    def _reading(read, *size):
        try:
            return read(*size)
        except OSError as error:  # a timeout, a reset, gunicorn's NoMoreData
            raise ClientDisconnected(f"The client stopped sending the request body ({error})") from None
