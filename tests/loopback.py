"""Servers and ports on loopback for the tests of wait-for-port, its API and its pytest plugin:
free and held ports, TCP listeners that open when the test says, HTTP servers that answer or
stall, and a TLS server."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port(family=socket.AF_INET, host="127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@contextmanager
def listener_later(delay: float, family=socket.AF_INET, host="127.0.0.1"):
    """Yields the port of a TCP listener on HOST that opens DELAY seconds from now. The port is
    bound at once, so that nobody takes it meanwhile; connections are refused until listen().
    No test asserts anything about when it is seen: only that it is."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve():
        if stop.wait(delay):
            return
        sock.listen(64)
        sock.settimeout(0.02)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.close()
        sock.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join()
        sock.close()


class Listener:
    """A TCP listener driven by the test's events, not by the clock: the port is bound at once
    (connections are refused until open()), close() stops it. accepted counts the connections
    taken; opened_at is when it began to listen."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.taken = threading.Event()  # set at the first connection
        self.opened_at = None
        self._stop = threading.Event()
        self._thread = None

    def open(self):
        self.opened_at = time.monotonic()
        self.sock.listen(64)
        self.sock.settimeout(0.02)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.taken.set()
            conn.close()

    def close(self):
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextmanager
def listening():
    """The port of a socket that listens from the start (the kernel completes connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


@contextmanager
def http_server(status_for):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status_for(self.path))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stalling_http_server(stall_first: int):
    """An HTTP server that accepts its first STALL_FIRST connections and never answers them
    (holding them open), then answers 200. Yields (port, the count of connections)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.02)
    count, held, stop = [0], [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            count[0] += 1
            if count[0] <= stall_first:
                held.append(conn)
                continue
            conn.settimeout(5)
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1], count
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


class StreamServer:
    """A listener on a loopback port whose thread hands each connection to HANDLE(conn) (an
    OSError there ends that connection only) until close(), which waits for the thread: no
    thread outlives its test to meet a reused descriptor."""

    def __init__(self, handle, family=socket.AF_INET):
        self.handle = handle
        self.sock = socket.socket(family)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # shut down
            with conn:
                conn.settimeout(10)
                try:
                    self.handle(conn)
                except OSError:
                    pass  # the client went away, or refused what it was shown

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread; close() would not
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TlsServer(StreamServer):
    """A TLS server on a loopback port: each connection gets a handshake and, for a request,
    ANSWER. Records the SNI name and the request head each connection brought."""

    def __init__(self, cert: Path, key: Path, answer: bytes = b"HTTP/1.0 200 OK\r\n\r\nok", family=socket.AF_INET):
        self.ctx = self.context(cert, key)
        self.ctx.sni_callback = self._sni
        self.answer = answer
        self.names: list[str | None] = []
        self.requests: list[list[bytes]] = []
        super().__init__(self._shake_hands, family)

    @staticmethod
    def context(cert: Path, key: Path) -> ssl.SSLContext:
        """A server's TLS context with CERT and KEY."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def _sni(self, conn, name, ctx) -> None:
        self.names.append(name)

    def _shake_hands(self, conn: socket.socket) -> None:
        tls = self.ctx.wrap_socket(conn, server_side=True)  # ssl.SSLError is an OSError
        head = tls.recv(4096)
        if head:
            self.requests.append(head.split(b"\r\n\r\n")[0].split(b"\r\n"))
            tls.sendall(self.answer)
        tls.close()
