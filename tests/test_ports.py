"""wait-for-port and snakepack.wait_for_port against real listeners on loopback, and, for
dropped SYNs and slow or late name resolution, inside network namespaces made by the test."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import run, tool
from snakepack import UsageError, WaitTimeout, async_wait_for_port, wait_for_port
from snakepack.ports import HTTP, TCP, UNIX, parse_endpoint


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
def listener_later(delay: float, family=socket.AF_INET, host="127.0.0.1", close_after=None):
    """Yields the port of a TCP listener on HOST that opens DELAY seconds from now (and closes
    after CLOSE_AFTER seconds open, if given). The port is bound at once, so that nobody takes
    it meanwhile; connections are refused until listen()."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve():
        if stop.wait(delay):
            return
        sock.listen(64)
        sock.settimeout(0.02)
        opened = time.monotonic()
        while not stop.is_set():
            if close_after is not None and time.monotonic() - opened > close_after:
                break
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


# ---- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("db:5432", (TCP, "db", "5432", None)),
        ("127.0.0.1:80", (TCP, "127.0.0.1", "80", None)),
        ("[::1]:5432", (TCP, "::1", "5432", None)),
        ("http://web:8080/health", (HTTP, "web", "8080", "/health")),
        ("http://web", (HTTP, "web", "80", "/")),
        ("http://[::1]:81", (HTTP, "::1", "81", "/")),
        ("unix:/run/app.sock", (UNIX, None, None, "/run/app.sock")),
    ],
)
def test_parse_endpoint(text, parsed):
    assert tuple(parse_endpoint(text))[1:] == parsed


@pytest.mark.parametrize(
    "text, message",
    [
        ("db", "missing port"),
        ("db:", "port must be a number"),
        ("db:99999", "port must be a number"),
        ("db:0", "port must be a number"),
        (":5432", "missing host"),
        ("::1:5432", "bare IPv6 address"),
        ("[::1]5432", "expected [IPv6]:PORT"),
        ("ftp://x:21", "only http://"),
        ("unix:relative.sock", "absolute socket path"),
    ],
)
def test_parse_endpoint_rejects(text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_endpoint(text)


# ---- the API ----------------------------------------------------------------------------------


def test_listener_that_opens_late_is_detected():
    with listener_later(0.3) as port:
        (result,) = wait_for_port(f"127.0.0.1:{port}", timeout=10)
    assert result.ready and result.elapsed >= 0.25


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback here")
def test_ipv6_listener():
    with listener_later(0.2, socket.AF_INET6, "::1") as port:
        (result,) = wait_for_port(f"[::1]:{port}", timeout=10)
    assert result.ready


def test_endpoints_are_waited_for_concurrently_and_done_once_ready():
    # the early one accepts only briefly: once seen, it need not stay up
    with listener_later(0.1, close_after=0.2) as early, listener_later(0.6) as late:
        results = wait_for_port(f"127.0.0.1:{early}", f"127.0.0.1:{late}", timeout=10)
    assert [r.ready for r in results] == [True, True]
    assert results[0].elapsed < results[1].elapsed


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
    with listener_later(0, close_after=0.3) as port:
        time.sleep(0.1)
        (result,) = wait_for_port(f"127.0.0.1:{port}", timeout=10, invert=True)
    assert result.ready and result.elapsed >= 0.1


def test_unix_socket_endpoint(tmp_path):
    path = tmp_path / "app.sock"

    def open_later():
        time.sleep(0.2)
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.listen(1)
        opened.append(s)

    opened = []
    t = threading.Thread(target=open_later)
    t.start()
    try:
        (result,) = wait_for_port(f"unix:{path}", timeout=10)
    finally:
        t.join()
        for s in opened:
            s.close()
    assert result.ready and result.elapsed >= 0.15


@contextmanager
def http_server(status_for):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status_for(self.path))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_endpoint_ready_on_2xx_or_3xx_only():
    warm = threading.Event()
    threading.Timer(0.3, warm.set).start()
    statuses = {"/ok": lambda: 200, "/moved": lambda: 302, "/down": lambda: 503, "/warming": lambda: 200 if warm.is_set() else 503}
    with http_server(lambda path: statuses[path]()) as port:
        url = f"http://127.0.0.1:{port}"
        ok, moved, warming = wait_for_port(f"{url}/ok", f"{url}/moved", f"{url}/warming", timeout=10, period=0.05)
        assert ok.ready and moved.ready and warming.ready
        assert warming.elapsed > ok.elapsed
        with pytest.raises(WaitTimeout, match="HTTP status 503"):
            wait_for_port(f"{url}/down", timeout=0.4, period=0.1)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_every_socket_is_closed_exactly_once():
    # A second close() of a number another thread has reused since would close its file.
    with listener_later(0) as up, listener_later(0.3) as late, http_server(lambda path: 200) as web:
        r = run(["strace", "-f", "-e", "trace=close", tool("wait-for-port"), "-q", f"127.0.0.1:{up}", f"localhost:{late}", f"http://127.0.0.1:{web}/"], timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "EBADF" not in r.stderr


def test_events_are_reported_as_they_happen():
    seen = []
    with listener_later(0.1) as port:
        wait_for_port(f"127.0.0.1:{port}", timeout=10, on_event=lambda ep, kind, elapsed, detail: seen.append((str(ep), kind)))
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


def test_async_twin_does_not_block_the_loop():
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        with listener_later(0.3) as port:
            (result,) = await async_wait_for_port(f"127.0.0.1:{port}", timeout=10)
        t.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.ready and ticks >= 10


def test_async_twin_cancellation_stops_the_wait():
    port = free_port()

    async def main():
        task = asyncio.ensure_future(async_wait_for_port(f"127.0.0.1:{port}", timeout=0))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the C wait saw the cancellation: its thread is gone
        for _ in range(100):
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


# ---- the command ------------------------------------------------------------------------------


def test_cli_ready_line_and_exit_0():
    with listener_later(0.2) as port:
        r = run([tool("wait-for-port"), f"127.0.0.1:{port}"], timeout=30)
    assert r.returncode == 0
    assert r.stderr.startswith(f"wait-for-port: 127.0.0.1:{port} is ready after ")


def test_cli_timeout_exit_10_one_line_per_pending_endpoint():
    a, b = free_port(), free_port()
    r = run([tool("wait-for-port"), "-t", "0.5", f"127.0.0.1:{a}", f"127.0.0.1:{b}"], timeout=30)
    assert r.returncode == 10
    lines = r.stderr.splitlines()
    assert lines == [
        f"wait-for-port: 127.0.0.1:{a} still down after 0.5 s: Connection refused",
        f"wait-for-port: 127.0.0.1:{b} still down after 0.5 s: Connection refused",
    ]


def test_cli_quiet():
    r = run([tool("wait-for-port"), "-q", "-t", "0.2", f"127.0.0.1:{free_port()}"], timeout=30)
    assert r.returncode == 10 and r.stderr == ""


def test_cli_zero_timeout_waits_forever():
    with listener_later(1.0) as port:
        r = run([tool("wait-for-port"), "-t", "0", f"127.0.0.1:{port}"], timeout=30)
    assert r.returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["db"], "missing port"),
        (["db:99999"], "port must be a number"),
        ([":1"], "missing host"),
        (["::1:80"], "bare IPv6"),
        (["--period", "0", "db:1"], "period must be more than 0"),
        (["-t", "-1", "db:1"], "timeout must be 0"),
        (["-t", "soon", "db:1"], "invalid float value"),
        ([], "no endpoint given"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAIT_FOR_PORT")}
    r = run([tool("wait-for-port"), *args], env=env, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_cli_environment_fallbacks():
    a, b = free_port(), free_port()
    env = dict(os.environ, WAIT_FOR_PORTS=f"127.0.0.1:{a}, 127.0.0.1:{b}", WAIT_FOR_PORT_TIMEOUT="0.3", WAIT_FOR_PORT_PERIOD="0.1")
    r = run([tool("wait-for-port")], env=env, timeout=30)
    assert r.returncode == 10 and len(r.stderr.splitlines()) == 2
    assert "after 0.3 s" in r.stderr
    env["WAIT_FOR_PORT_TIMEOUT"] = "later"
    r = run([tool("wait-for-port")], env=env, timeout=30)
    assert r.returncode == 2 and "WAIT_FOR_PORT_TIMEOUT" in r.stderr


def test_cli_execs_the_command_on_success_only():
    code = "import os; print(os.getpid())"
    with listener_later(0) as port:
        p = subprocess.Popen([tool("wait-for-port"), "-q", f"127.0.0.1:{port}", "--", sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0 and int(out) == p.pid  # the same process: exec, not a child
    r = run([tool("wait-for-port"), "-q", "-t", "0.2", f"127.0.0.1:{free_port()}", "--", "touch", "/nonexistent/never"], timeout=30)
    assert r.returncode == 10


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_signals_end_the_wait_at_once(sig, code):
    p = subprocess.Popen([tool("wait-for-port"), "-t", "0", f"127.0.0.1:{free_port()}"], stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    p.send_signal(sig)
    _, err = p.communicate(timeout=10)
    assert p.returncode == code
    assert "Traceback" not in err


def test_cli_sigterm_as_pid_1():
    p = subprocess.Popen(
        ["unshare", "--fork", "--pid", "--mount-proc", tool("wait-for-port"), "-t", "0", f"127.0.0.1:{free_port()}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    child = None
    for _ in range(100):
        time.sleep(0.05)
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            child = int(kids[0])
            break
    if child is None:
        p.kill()
        pytest.skip(f"unshare cannot make a PID namespace here: {p.communicate()[1].strip()}")
    with open(f"/proc/{child}/status") as f:
        assert any(line.split() == ["NSpid:", str(child), "1"] for line in f)  # PID 1 inside
    time.sleep(0.3)
    os.kill(child, signal.SIGTERM)
    p.communicate(timeout=10)
    assert p.returncode == 143


# ---- network namespaces: dropped SYNs, slow and late name resolution ---------------------------


@pytest.fixture
def netns(tmp_path):
    """A network namespace with loopback up, and its own /etc/hosts and resolv.conf."""
    name = f"snakepack-{uuid.uuid4().hex[:8]}"
    etc = f"/etc/netns/{name}"
    if run(["ip", "netns", "add", name]).returncode != 0:
        pytest.skip("cannot create network namespaces here (needs root and iproute2)")
    try:
        os.makedirs(etc)
        with open(f"{etc}/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n")
        with open(f"{etc}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:3\n")
        assert run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]).returncode == 0
        yield name
    finally:
        run(["ip", "netns", "del", name])
        for f in ("hosts", "resolv.conf"):
            if os.path.exists(f"{etc}/{f}"):
                os.remove(f"{etc}/{f}")
        if os.path.isdir(etc):
            os.rmdir(etc)


def nft(ns, rules: str):
    if shutil.which("nft") is None:
        pytest.skip("needs nftables")
    r = run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules)
    assert r.returncode == 0, r.stderr


def in_netns(ns, *args, **kwargs):
    return run(["ip", "netns", "exec", ns, tool("wait-for-port"), *args], **kwargs)


def test_dropped_syns_never_push_past_the_deadline(netns):
    nft(netns, "table inet t {\n chain incoming {\n type filter hook input priority 0; tcp dport 9 drop\n }\n}\n")
    start = time.monotonic()
    r = in_netns(netns, "-t", "2", "127.0.0.1:9", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 10
    assert "127.0.0.1:9 still down after 2 s: connect timed out" in r.stderr
    assert took < 2 + 2, took  # the original was still blocked in connect() after 30 s


def test_slow_dns_blocks_neither_the_deadline_nor_other_endpoints(netns):
    # the namespace's nameserver never answers: getaddrinfo would block 15 s
    nft(netns, "table inet t {\n chain incoming {\n type filter hook input priority 0; udp dport 53 drop; tcp dport 53 drop\n }\n}\n")
    code = (
        "import socket, subprocess, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)\n"
        "port = s.getsockname()[1]\n"
        "r = subprocess.run([sys.argv[1], '-t', '1.5', f'127.0.0.1:{port}', 'slow.example.invalid:80'], capture_output=True, text=True)\n"
        "print(r.returncode); print(r.stderr)\n"
    )
    start = time.monotonic()
    r = run(["ip", "netns", "exec", netns, sys.executable, "-c", code, tool("wait-for-port")], timeout=60)
    took = time.monotonic() - start
    lines = r.stdout.splitlines()
    assert lines[0] == "10", r.stdout + r.stderr
    assert any("is ready after" in line for line in lines)
    assert any("slow.example.invalid:80 still down after 1.5 s: resolving slow.example.invalid" in line for line in lines)
    assert took < 1.5 + 3, took


def test_name_that_resolves_late_is_waited_for(netns):
    hosts = f"/etc/netns/{netns}/hosts"
    code = (
        "import socket, subprocess, sys, threading, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)\n"
        "port = s.getsockname()[1]\n"
        "def later():\n"
        "    time.sleep(0.6)\n"
        f"    open({hosts!r}.replace('/etc/netns/' + {netns!r}, '/etc'), 'a').write('127.0.0.1 late-host\\n')\n"
        "threading.Thread(target=later).start()\n"
        "r = subprocess.run([sys.argv[1], '-t', '10', '--period', '0.1', f'late-host:{port}'], capture_output=True, text=True)\n"
        "print(r.returncode); print(r.stderr)\n"
    )
    r = run(["ip", "netns", "exec", netns, sys.executable, "-c", code, tool("wait-for-port")], timeout=60)
    lines = r.stdout.splitlines()
    assert lines[0] == "0", r.stdout + r.stderr
    unresolved = [line for line in lines if "does not resolve (yet)" in line]
    assert len(unresolved) == 1  # said once, not once per attempt
    assert any("is ready after" in line for line in lines)
