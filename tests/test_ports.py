"""snakepack.wait_for_port, its asyncio twin and probe against real listeners on loopback:
late listeners, HTTP servers that warm up or stall, unix sockets, file: endpoints."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from snakepack import WaitTimeout, async_wait_for_port, probe, wait_for_port

from conftest import communicate
from loopback import Listener, free_port, has_ipv6, http_server, listener_later, listening, stalling_http_server


def wait_in_thread(*endpoints, **kwargs):
    """Starts wait_for_port on a thread; returns the thread and a list that gets its results
    (or its exception)."""
    out = []

    def work():
        try:
            out.append(wait_for_port(*endpoints, **kwargs))
        except BaseException as err:
            out.append(err)

    t = threading.Thread(target=work)
    t.start()
    return t, out


def test_listener_that_opens_late_is_detected():
    with Listener() as late:
        done_at = []
        t, out = wait_in_thread(
            f"127.0.0.1:{late.port}", timeout=30, on_event=lambda *a: done_at.append(time.monotonic())
        )
        time.sleep(0.2)  # the wait meets refusals meanwhile (nothing below depends on how long)
        late.open()
        t.join()
    (result,) = out[0]
    assert result.ready and late.accepted >= 1
    assert done_at[0] >= late.opened_at  # seen once it opened, not before


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback here")
def test_ipv6_listener():
    with listener_later(0.2, socket.AF_INET6, "::1") as port:
        (result,) = wait_for_port(f"[::1]:{port}", timeout=10)
    assert result.ready


def test_endpoints_are_waited_for_concurrently_and_done_once_ready():
    # The early endpoint closes as soon as it is reported ready, and only then does the late
    # one open: once seen, an endpoint need not stay up, and both are waited for at once.
    with Listener() as early, Listener() as late:

        def on_event(endpoint, kind, elapsed, detail):
            if kind == "done" and endpoint.port == str(early.port):
                early.close()
                late.open()

        early.open()
        results = wait_for_port(f"127.0.0.1:{early.port}", f"127.0.0.1:{late.port}", timeout=30, on_event=on_event)
    assert [r.ready for r in results] == [True, True]
    assert results[0].elapsed <= results[1].elapsed


def test_timeout_names_what_is_still_down():
    down = free_port()
    with listener_later(0) as up:
        with pytest.raises(WaitTimeout) as info:
            wait_for_port(f"127.0.0.1:{up}", f"127.0.0.1:{down}", timeout=0.5)
    err = info.value
    assert isinstance(err, TimeoutError)
    assert [str(r.endpoint) for r in err.pending] == [f"127.0.0.1:{down}"]
    assert "Connection refused" in err.pending[0].detail
    assert f"127.0.0.1:{down} (Connection refused)" in str(err)


def test_stable_requires_accepting_for_the_whole_window():
    with listener_later(0) as port:
        (result,) = wait_for_port(f"127.0.0.1:{port}", timeout=10, stable=0.3)
    assert result.ready and result.elapsed >= 0.3


def test_invert_waits_until_nothing_accepts():
    with Listener() as listener:
        listener.open()
        t, out = wait_in_thread(f"127.0.0.1:{listener.port}", timeout=30, invert=True)
        assert listener.taken.wait(30)  # the inverted wait has seen it accepting
        listener.close()
        t.join()
    (result,) = out[0]
    assert result.ready


def test_unix_socket_endpoint(tmp_path):
    path = tmp_path / "app.sock"
    done_at = []
    t, out = wait_in_thread(f"unix:{path}", timeout=30, on_event=lambda *a: done_at.append(time.monotonic()))
    time.sleep(0.2)  # the wait meets no socket meanwhile (nothing below depends on how long)
    with socket.socket(socket.AF_UNIX) as s:
        bound_at = time.monotonic()
        s.bind(str(path))
        s.listen(1)
        t.join()
    (result,) = out[0]
    assert result.ready
    assert done_at[0] >= bound_at  # seen once it was there, not before


def test_http_endpoint_ready_on_2xx_or_3xx_only():
    warming = iter([503, 503])  # then 200: a service that warms up after two answers
    statuses = {"/ok": lambda: 200, "/moved": lambda: 302, "/down": lambda: 503, "/warming": lambda: next(warming, 200)}
    with http_server(lambda path: statuses[path]()) as port:
        url = f"http://127.0.0.1:{port}"
        ok, moved, warm = wait_for_port(f"{url}/ok", f"{url}/moved", f"{url}/warming", timeout=30, period=0.2)
        assert ok.ready and moved.ready and warm.ready
        assert next(warming, "drained") == "drained"  # it was ready only after the two 503s
        with pytest.raises(WaitTimeout, match="HTTP status 503"):
            # each attempt may take up to a period: half a second is room for an answer
            wait_for_port(f"{url}/down", timeout=2, period=0.5)


def test_events_are_reported_as_they_happen():
    seen = []
    with listener_later(0.1) as port:
        wait_for_port(
            f"127.0.0.1:{port}", timeout=10, on_event=lambda ep, kind, elapsed, detail: seen.append((str(ep), kind))
        )
    assert seen == [(f"127.0.0.1:{port}", "done")]


def test_exception_in_callback_propagates():
    def boom(*args):
        raise RuntimeError("from the callback")

    with listener_later(0) as port, pytest.raises(RuntimeError, match="from the callback"):
        wait_for_port(f"127.0.0.1:{port}", timeout=10, on_event=boom)


def test_many_endpoints_opening_at_random_times():
    import random

    rng = random.Random(4)
    with ExitStack() as stack:
        ports = [stack.enter_context(listener_later(rng.uniform(0, 0.8))) for _ in range(150)]
        results = wait_for_port(*(f"127.0.0.1:{p}" for p in ports), timeout=30)
    assert all(r.ready for r in results)


def test_stalled_http_attempt_is_retried_on_a_new_connection():
    with stalling_http_server(stall_first=1) as (port, count):
        (result,) = wait_for_port(f"http://127.0.0.1:{port}/", timeout=30, period=0.2)
    assert result.ready and count[0] >= 2


def test_timeout_says_what_a_silent_http_server_did():
    with stalling_http_server(stall_first=10**6) as (port, count):
        with pytest.raises(WaitTimeout) as info:
            wait_for_port(f"http://127.0.0.1:{port}/", timeout=1, period=0.2)
    (pending,) = info.value.pending
    assert pending.detail.startswith("connected, no HTTP status in ")
    assert count[0] >= 2  # each attempt on a new connection


def test_http_host_header_of_an_ipv6_literal_is_in_brackets():
    if not has_ipv6():
        pytest.skip("no IPv6 loopback here")
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server6(HTTPServer):
        address_family = socket.AF_INET6

    server = Server6(("::1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        (result,) = wait_for_port(f"http://[::1]:{port}/health", timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert result.ready and seen == [f"[::1]:{port}"]


def test_async_twin_does_not_block_the_loop():
    # The listener opens only after the event loop has run ten ticks during the wait: a wait
    # that blocked the loop would never see it.
    async def main(listener):
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
                if ticks == 10:
                    listener.open()

        t = asyncio.ensure_future(ticker())
        (result,) = await async_wait_for_port(f"127.0.0.1:{listener.port}", timeout=30)
        t.cancel()
        return result

    with Listener() as listener:
        assert asyncio.run(main(listener)).ready


def test_async_twin_cancellation_stops_the_wait():
    port = free_port()

    async def main():
        task = asyncio.ensure_future(async_wait_for_port(f"127.0.0.1:{port}", timeout=0))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the C wait saw the cancellation: its thread ends (well before this bound)
        for _ in range(3000):
            if not any(t.name == "wait-for-port" for t in threading.enumerate()):
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(main())


def test_async_twin_raises_wait_timeout():
    async def main():
        await async_wait_for_port(f"127.0.0.1:{free_port()}", timeout=0.3)

    with pytest.raises(WaitTimeout):
        asyncio.run(main())


def write_later(path, delay: float, *contents: bytes, every: float = 0.1):
    """Writes each of CONTENTS to PATH in turn, the first DELAY seconds from now, then one
    every EVERY seconds; returns the thread."""

    def work():
        time.sleep(delay)
        for k, data in enumerate(contents):
            if k:
                time.sleep(every)
            with open(path, "ab") as f:
                f.write(data)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def test_file_endpoint_is_ready_once_the_file_exists(tmp_path):
    ready = tmp_path / "ready"
    writer = write_later(ready, 0.2, b"ok")
    (r,) = wait_for_port(f"file:{ready}", timeout=30)
    writer.join()
    assert r.ready and r.attempts >= 2  # it was missing at first, and seen once it was there


def test_file_endpoint_with_stable_waits_until_size_and_mtime_hold(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"start\n")
    start = time.monotonic()
    writer = write_later(log, 0.1, *[b"line\n"] * 5, every=0.1)
    (r,) = wait_for_port(f"file:{log}", timeout=30, stable=1.0)
    writer.join()
    # the file changed until about 0.5 s: it cannot have held still for 1 s before 1.5 s
    # (monotonic time; a slow machine only makes this later)
    assert r.ready and time.monotonic() - start >= 1.5
    assert log.read_bytes().count(b"line") == 5


def test_file_endpoint_timeout_and_invert(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(WaitTimeout) as info:
        wait_for_port(f"file:{missing}", timeout=0.2)
    assert info.value.pending[0].detail == "no such file"
    lock = tmp_path / "lock"
    lock.write_text("x")
    threading.Timer(0.2, lock.unlink).start()
    (r,) = wait_for_port(f"file:{lock}", timeout=30, invert=True)
    assert r.ready and not lock.exists()


def test_async_twin_and_api_take_file_endpoints(tmp_path):
    there = tmp_path / "there"
    write_later(there, 0.1, b"x")
    (r,) = asyncio.run(async_wait_for_port(f"file:{there}", timeout=30))
    assert r.ready


def test_probe_makes_one_attempt_per_endpoint_and_never_raises(tmp_path):
    (tmp_path / "there").write_text("x")
    with listening() as up:
        down = free_port()
        results = probe(
            f"127.0.0.1:{up}", f"127.0.0.1:{down}", f"file:{tmp_path / 'there'}", f"file:{tmp_path / 'not'}", timeout=5
        )
    assert [r.ready for r in results] == [True, False, True, False]
    assert [r.attempts for r in results] == [1, 1, 1, 1]
    assert results[1].detail == "Connection refused" and results[3].detail == "no such file"


def test_probe_attempt_is_bounded_by_its_timeout():
    # a server that accepts and never answers: the HTTP attempt ends at the probe's bound
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        start = time.monotonic()
        (r,) = probe(f"http://127.0.0.1:{server.getsockname()[1]}/health", timeout=0.3)
        took = time.monotonic() - start
    assert not r.ready and r.attempts == 1 and "no HTTP status" in r.detail
    assert 0.3 <= took < 30  # bounded: it ended (how soon after 0.3 s is the machine's business)


def test_a_setup_that_fails_closes_no_descriptor_it_never_opened(tmp_path):
    # The TLS setup fails at the first endpoint (a CA file without a certificate); the second
    # was never set up. Descriptor 0, here a pipe, must still be open afterwards.
    code = (
        "import os, sys\n"
        "from snakepack import UsageError, wait_for_port\n"
        "try:\n"
        "    wait_for_port('https://127.0.0.1:1/', 'https://127.0.0.1:2/', 'https://127.0.0.1:3/', timeout=1, cacert='/etc/hostname')\n"
        "except UsageError:\n"
        "    pass\n"
        "os.fstat(0)\n"
        "print('open')\n"
    )
    r = subprocess.run(
        [sys.executable, "-I", "-c", code], stdin=subprocess.PIPE, capture_output=True, text=True, timeout=60
    )
    assert r.stdout == "open\n", r.stderr


def test_on_event_runs_with_the_callers_signal_mask():
    # A process the callback starts inherits the mask the callback runs with: it must be the
    # caller's, not the wait's (where SIGINT and SIGTERM are blocked outside ppoll), or the
    # process would ignore docker stop.
    seen = []

    def on_event(*event):
        seen.append(
            subprocess.run(["grep", "^SigBlk:", "/proc/self/status"], capture_output=True, text=True, check=True).stdout
        )

    with listening() as port:
        wait_for_port(f"127.0.0.1:{port}", timeout=30, on_event=on_event)
    caller = sum(1 << (s - 1) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    assert [int(line.split()[1], 16) for line in seen] == [caller]


SLOW_CALLBACK = """
import sys, time
from snakepack import wait_for_port

def on_event(*event):
    print("in the callback", flush=True)
    time.sleep(120)

wait_for_port(sys.argv[1], timeout=300, on_event=on_event)
"""


def test_ctrl_c_interrupts_a_slow_callback():
    with listening() as port:
        p = subprocess.Popen(
            [sys.executable, "-I", "-c", SLOW_CALLBACK, f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout.readline() == "in the callback\n"
        p.send_signal(signal.SIGINT)
        _, err = communicate(p, 60, "SIGINT waited for the callback to return")
    assert "KeyboardInterrupt" in err


def test_async_twin_calls_on_event_on_the_event_loop():
    threads = []

    async def main():
        with listening() as port:
            await async_wait_for_port(
                f"127.0.0.1:{port}", timeout=30, on_event=lambda *event: threads.append(threading.get_ident())
            )
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads == [loop_thread]


def test_async_twin_ends_the_wait_with_what_on_event_raised():
    def boom(endpoint, kind, elapsed, detail):
        raise ZeroDivisionError(f"{kind}: {detail}")

    async def main():
        # forever but for the callback; asyncio's bound only keeps a failing test from hanging
        await asyncio.wait_for(
            async_wait_for_port(f"127.0.0.1:{free_port()}", timeout=0, verbose=True, on_event=boom), 120
        )

    with pytest.raises(ZeroDivisionError, match="resolved: 127.0.0.1"):
        asyncio.run(main())


def test_async_twin_leaks_no_descriptor_when_its_thread_cannot_start():
    async def main():
        await async_wait_for_port(f"127.0.0.1:{free_port()}", timeout=1)

    before = sorted(os.listdir("/proc/self/fd"))
    threading.stack_size(1 << 44)  # 16 TiB: more than the machine can map, so no thread starts
    try:
        with pytest.raises(RuntimeError, match="can't start new thread"):
            asyncio.run(main())
    finally:
        threading.stack_size(0)
    assert sorted(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("scheme", ["http", "https", "tls"])
def test_an_attempt_whose_connect_is_slow_still_lasts_one_period(scheme):
    # The listener's accept queue is full, so the kernel drops the wait's first SYN and the
    # client sends it again a second later (TCP's initial retransmission timeout): the connect
    # takes about 1 s. The server then never answers. The attempt started at 0 must be given up
    # at one period (2 s), and the second start then, before the deadline (2.6 s); an attempt
    # whose bound restarted at the connect would last until 3 s, past the deadline.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port))
        taken = []

        def free_the_queue():
            time.sleep(0.5)
            taken.append(srv.accept()[0])  # the filler
            taken.append(srv.accept()[0])  # the wait's first connection
            taken.append(time.monotonic())

        t = threading.Thread(target=free_the_queue, daemon=True)
        t.start()
        endpoint = {
            "http": f"http://127.0.0.1:{port}/",
            "https": f"https://127.0.0.1:{port}/",
            "tls": f"tls://127.0.0.1:{port}",
        }[scheme]
        attempts = []
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as timeout:
            wait_for_port(
                endpoint,
                timeout=2.6,
                period=2.0,
                verbose=True,
                on_event=lambda ep, kind, elapsed, detail: attempts.append(detail) if kind == "attempt" else None,
            )
        t.join(5)
        for conn in taken[:2]:
            conn.close()
        filler.close()
    assert len(taken) == 3 and taken[2] - started > 0.8, (
        "the first SYN was not dropped: the premise of this test does not hold"
    )
    (result,) = timeout.value.results
    assert result.attempts == 2, attempts
    assert attempts[0].startswith("attempt 1 to 127.0.0.1: connected, ") and "in 2 s" in attempts[0]
