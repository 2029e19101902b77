"""wait-for-port and snakepack.wait_for_port against real listeners on loopback, and, for
dropped SYNs and slow or late name resolution, inside network namespaces made by the test."""

import asyncio
import json
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
from snakepack.ports import FILE, HTTP, HTTPS, TCP, TLS, UNIX, parse_endpoint, probe


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
        ("file:/run/app/ready", (FILE, None, None, "/run/app/ready")),
        ("file:///run/app/ready", (FILE, None, None, "/run/app/ready")),
        ("https://api/health", (HTTPS, "api", "443", "/health")),
        ("https://[::1]:8443", (HTTPS, "::1", "8443", "/")),
        ("tls://mq:5671", (TLS, "mq", "5671", None)),
        ("tls://[::1]:443/", (TLS, "::1", "443", None)),
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
        ("ftp://x:21", "unknown scheme"),
        ("redis://user:secret@cache:6379", "never sends credentials"),
        ("postgres://db:5432/a b", "must not hold spaces"),
        ("redis://", "missing host"),
        ("unix:relative.sock", "absolute socket path"),
        ("db:²", "port must be a number"),  # int() would take it: another script's digit
        ("db:٣٣", "port must be a number"),
        ("db:+80", "port must be a number"),
        ("db: 80", "port must be a number"),
        ("d b:80", "must not hold spaces"),
        ("http://web/a b", "must not hold spaces"),
        ("http://web/a\r\nX: y", "must not hold spaces or control characters"),
        ("unix:/" + "x" * 200, "longer than a socket address holds"),
        ("file:ready", "file: needs an absolute path"),
        ("file:", "file: needs an absolute path"),
        ("file:/" + "x" * 4096, "longer than a path can be"),
        ("db\udcff:80", "not valid UTF-8"),
        ("tls://mq", "missing port"),
        ("tls://mq:5671/vhost", "tls:// takes no path"),
        ("tls://user@mq:5671", "never sends credentials"),
        ("https://api/a b", "must not hold spaces"),
        ("ftps://x:21", "unknown scheme: http://, https://, tls://"),
    ],
)
def test_parse_endpoint_rejects(text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_endpoint(text)


# ---- the API ----------------------------------------------------------------------------------


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
        t, out = wait_in_thread(f"127.0.0.1:{late.port}", timeout=30, on_event=lambda *a: done_at.append(time.monotonic()))
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
    warming = iter([503, 503])  # then 200: a service that warms up after two answers
    statuses = {"/ok": lambda: 200, "/moved": lambda: 302, "/down": lambda: 503, "/warming": lambda: next(warming, 200)}
    with http_server(lambda path: statuses[path]()) as port:
        url = f"http://127.0.0.1:{port}"
        ok, moved, warm = wait_for_port(f"{url}/ok", f"{url}/moved", f"{url}/warming", timeout=30, period=0.05)
        assert ok.ready and moved.ready and warm.ready
        assert next(warming, "drained") == "drained"  # it was ready only after the two 503s
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


# ---- the command ------------------------------------------------------------------------------


def test_cli_ready_line_and_exit_0():
    with listener_later(0.2) as port:
        r = run([tool("wait-for-port"), f"127.0.0.1:{port}"], timeout=30)
    assert r.returncode == 0
    assert r.stderr.startswith(f"wait-for-port: 127.0.0.1:{port} is ready after ")


def test_cli_timeout_exit_10_one_line_per_pending_endpoint():
    a, b = free_port(), free_port()
    r = run([tool("wait-for-port"), "-t", "2", f"127.0.0.1:{a}", f"127.0.0.1:{b}"], timeout=30)
    assert r.returncode == 10
    lines = r.stderr.splitlines()
    assert lines == [
        f"wait-for-port: 127.0.0.1:{a} still down after 2 s: Connection refused",
        f"wait-for-port: 127.0.0.1:{b} still down after 2 s: Connection refused",
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
        (["--period", "0", "db:1"], "period must be a number of seconds from 0.001 up"),
        (["-t", "-1", "db:1"], "timeout must be a number of seconds, 0 or more"),
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


def handler_installed(pid: int, sig: int) -> None:
    """Returns once process PID catches SIG (SigCgt): a signal sent before would meet Python
    still starting, however long a busy machine takes, not the code under test."""
    for _ in range(3000):
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        if caught & (1 << (sig - 1)):
            return
        time.sleep(0.01)
    pytest.fail(f"process {pid} never installed a handler for signal {sig}")


def in_ppoll(pid: int) -> None:
    """Returns once process PID sleeps in ppoll(2) (/proc/PID/syscall): it is in the wait."""
    ppoll = {"x86_64": "271", "aarch64": "73"}.get(os.uname().machine)
    for _ in range(3000):
        with open(f"/proc/{pid}/syscall") as f:
            if ppoll is None or f.read().split()[0] == ppoll:
                return
        time.sleep(0.01)
    pytest.fail(f"process {pid} never waited in ppoll")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_signals_end_the_wait_at_once(sig, code):
    p = subprocess.Popen([tool("wait-for-port"), "-t", "0", f"127.0.0.1:{free_port()}"], stderr=subprocess.PIPE, text=True)
    handler_installed(p.pid, sig)
    in_ppoll(p.pid)
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
    # the kernel drops a signal to PID 1 that has no handler
    handler_installed(child, signal.SIGTERM)
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


def in_netns_with_listener(ns, args: str, before: str = "", limit: str = "None") -> list[str]:
    """Runs wait-for-port inside NS, next to a listener on 127.0.0.1 made there; ARGS is a
    Python list expression of its arguments that may use `port`, BEFORE code run first, LIMIT
    a preexec_fn expression. Returns the lines of its exit status and its stderr."""
    code = (
        "import resource, socket, subprocess, sys, threading, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)\n"
        "port = s.getsockname()[1]\n"
        f"{before}\n"
        f"r = subprocess.run([sys.argv[1], *{args}], capture_output=True, text=True, preexec_fn={limit})\n"
        "print(r.returncode); print(r.stderr)\n"
    )
    r = run(["ip", "netns", "exec", ns, sys.executable, "-c", code, tool("wait-for-port")], timeout=60)
    assert r.stdout, r.stderr
    return r.stdout.splitlines()


def test_dropped_syns_never_push_past_the_deadline(netns):
    nft(netns, "table inet t {\n chain incoming {\n type filter hook input priority 0; tcp dport 9 drop\n }\n}\n")
    start = time.monotonic()
    r = in_netns(netns, "-t", "2", "127.0.0.1:9", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 10
    assert "127.0.0.1:9 still down after 2 s: connect timed out" in r.stderr
    # The original was still blocked in one connect() after 30 s (Linux gives up on a dropped
    # SYN after about 130 s); this bound only tells the two apart, whatever the machine's load.
    assert took < 25, took


def test_slow_dns_blocks_neither_the_deadline_nor_other_endpoints(netns):
    # the namespace's nameserver never answers: getaddrinfo would block 15 s
    nft(netns, "table inet t {\n chain incoming {\n type filter hook input priority 0; udp dport 53 drop; tcp dport 53 drop\n }\n}\n")
    start = time.monotonic()
    lines = in_netns_with_listener(netns, "['-t', '1.5', f'127.0.0.1:{port}', 'slow.example.invalid:80']")
    took = time.monotonic() - start
    assert lines[0] == "10", lines
    assert any("is ready after" in line for line in lines)
    assert any("slow.example.invalid:80 still down after 1.5 s: resolving slow.example.invalid" in line for line in lines)
    assert took < 12, took  # getaddrinfo alone would block 15 s (timeout:5 attempts:3)


def test_name_that_resolves_late_is_waited_for(netns):
    hosts = "/etc/hosts"  # inside the namespace, the bind mount of /etc/netns/NAME/hosts
    later = (
        "def later():\n"
        "    time.sleep(0.6)\n"
        f"    open({hosts!r}, 'a').write('127.0.0.1 late-host\\n')\n"
        "threading.Thread(target=later).start()"
    )
    lines = in_netns_with_listener(netns, "['-t', '10', '--period', '0.1', f'late-host:{port}']", before=later)
    assert lines[0] == "0", lines
    unresolved = [line for line in lines if "does not resolve (yet)" in line]
    assert len(unresolved) == 1  # said once, not once per attempt
    assert any("is ready after" in line for line in lines)


# ---- signals, stalls, crowds and bad numbers ---------------------------------------------------


def signal_runs(endpoints, runs, parallel, max_delay, seed):
    """Starts wait-for-port -t 0 on ENDPOINTS RUNS times, PARALLEL at once, sends each SIGTERM
    after a random delay of up to MAX_DELAY seconds; returns the exit status of each run, None
    for a run that was still waiting 20 s after its signal (the signal was lost)."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(seed)
    delays = [rng.uniform(0, max_delay) for _ in range(runs)]

    def one(delay):
        p = subprocess.Popen([tool("wait-for-port"), "-q", "-t", "0", *endpoints], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, delays))


def test_cli_no_sigterm_is_ever_lost():
    # A refused endpoint is retried every 10 ms: the loop is busy between its ppoll() calls,
    # where a signal used to be lost for good. 143: the handler ran; -15: the signal came before
    # Python had installed it, and ended the process as it should.
    statuses = signal_runs([f"127.0.0.1:{free_port()}"] * 200, runs=300, parallel=8, max_delay=0.4, seed=1)
    assert statuses.count(None) == 0, f"{statuses.count(None)} of 300 runs ignored SIGTERM"
    assert set(statuses) <= {143, -signal.SIGTERM}


def test_cli_no_sigterm_is_lost_with_many_endpoints():
    statuses = signal_runs([f"127.0.0.1:{free_port()}"] * 1000, runs=40, parallel=4, max_delay=0.6, seed=2)
    assert statuses.count(None) == 0, f"{statuses.count(None)} of 40 runs ignored SIGTERM"


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


def connects_after(log: str, when) -> int:
    """The connect() calls in the strace -tt LOG made after the moment WHEN (seconds since
    midnight, or None for never)."""
    n = 0
    for line in log.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[2].startswith("connect("):
            h, m, sec = parts[1].split(":")
            if when is not None and int(h) * 3600 + int(m) * 60 + float(sec) > when:
                n += 1
    return n


def strace_times(log: str, marker: str) -> float | None:
    for line in log.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[2].startswith(marker):
            h, m, sec = parts[1].split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
    return None


def test_slow_connects_never_push_past_the_deadline(tmp_path):
    # Under strace every connect() costs far more than usual, as it does where a crowded port
    # space makes each one take milliseconds: one turn that started 15,000 attempts at once
    # would run about a second past the deadline. The deadline counts from process start (the
    # execve); nothing may be attempted after it.
    import resource

    count = min(15000, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100)
    log = tmp_path / "strace.log"
    endpoints = [f"127.0.0.1:{free_port()}"] * count
    r = run(["strace", "-f", "-tt", "-qq", "-e", "trace=execve,connect", "-o", log, tool("wait-for-port"), "-q", "-t", "0.5", *endpoints], timeout=300)
    assert r.returncode == 10, r.stderr[-1000:]
    text = log.read_text()
    deadline = strace_times(text, "execve(") + 0.5
    assert connects_after(text, deadline + 0.1) == 0


def test_a_signal_is_seen_between_batches_of_slow_connects(tmp_path):
    log = tmp_path / "strace.log"
    endpoints = [f"127.0.0.1:{free_port()}"] * 6000
    p = subprocess.Popen(["strace", "-f", "-tt", "-qq", "-e", "trace=connect", "-e", "signal=SIGTERM", "-o", log, tool("wait-for-port"), "-q", "-t", "0", *endpoints])
    try:
        while not (log.exists() and "connect(" in log.read_text()):  # until it is connecting
            assert p.poll() is None
            time.sleep(0.01)
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            child = int(f.read().split()[0])
        os.kill(child, signal.SIGTERM)
        try:
            status = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(child, signal.SIGKILL)
            pytest.fail("SIGTERM was not seen within 60 s")
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    assert status == 143
    text = log.read_text()
    # after the signal, at most the rest of one batch (10 ms of attempts, slowed by tracing)
    assert connects_after(text, strace_times(text, "--- SIGTERM")) < 600


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["-t", "nan"], {}, "timeout must be a number of seconds"),
        ([], {"WAIT_FOR_PORT_TIMEOUT": "nan"}, "timeout must be a number of seconds"),
        (["--timeout=-inf"], {}, "timeout must be a number of seconds"),
        (["--stable", "nan"], {}, "--stable must be a number of milliseconds"),
        (["--stable", "inf"], {}, "--stable must be a number of milliseconds"),
        (["--period", "1e-300"], {}, "period must be a number of seconds from 0.001 up"),
        (["--period", "nan"], {}, "period must be a number of seconds from 0.001 up"),
        (["--period", "inf"], {}, "period must be a number of seconds from 0.001 up"),
        ([], {"WAIT_FOR_PORT_PERIOD": "-1"}, "period must be a number of seconds from 0.001 up"),
    ],
)
def test_cli_numbers_that_are_not_durations(args, env, message):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("WAIT_FOR_PORT")}, **env}
    r = run([tool("wait-for-port"), *args, "127.0.0.1:1"], env=env, timeout=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_cli_infinite_timeout_waits_forever():
    with listener_later(0.5) as port:
        r = run([tool("wait-for-port"), "-t", "inf", f"127.0.0.1:{port}"], timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "endpoint, message",
    [
        (b"h\xffst:80", "not valid UTF-8"),
        ("db:²".encode(), "port must be a number from 1 to 65535"),
        ("http://db:٨٠/".encode(), "port must be a number from 1 to 65535"),
    ],
)
def test_cli_odd_bytes_and_digits_are_one_line(endpoint, message):
    r = subprocess.run([os.fsencode(tool("wait-for-port")), b"-t", b"1", endpoint], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert r.stderr.count(b"\n") == 1 and message.encode() in r.stderr, r.stderr


def test_cli_long_utf8_host_is_reported_whole_characters(netns):
    host = "é" * 90 + ".invalid"  # its messages pass the 160 bytes an endpoint's detail holds
    r = in_netns(netns, "-t", "1", "--period", "0.2", f"{host}:80", timeout=60)  # decoded strictly
    assert r.returncode == 10 and "Traceback" not in r.stderr, r.stderr
    assert f"{host}:80: does not resolve (yet): " in r.stderr


def test_cli_raises_the_open_files_limit():
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    listeners = [socket.socket() for _ in range(200)]
    try:
        for s in listeners:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
        endpoints = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
        r = run([tool("wait-for-port"), "-q", "-t", "30", *endpoints], preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard)), timeout=60)
        assert r.returncode == 0, r.stderr
        r = run([tool("wait-for-port"), "-t", "30", *endpoints], preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)), timeout=60)
    finally:
        for s in listeners:
            s.close()
    assert r.returncode == 2
    assert r.stderr == "wait-for-port: 200 endpoints need a socket each, but the open-files limit is 64 (ulimit -n), 32 of them kept for the rest of the process\n"


def test_cli_says_once_when_addresses_outgrow_the_descriptors(netns):
    with open(f"/etc/netns/{netns}/hosts", "a") as f:
        f.write("127.0.0.1 both\n::1 both\n")  # a name with two addresses
    # 30 endpoints fit in 64 descriptors less the 32 kept back; their 60 addresses do not
    limit = "lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))"
    lines = in_netns_with_listener(netns, "['-t', '30', *[f'both:{port}'] * 30]", limit=limit)
    assert lines[0] == "0", lines
    crowded = [line for line in lines if "than the open-files limit" in line]
    assert crowded == ["wait-for-port: 30 endpoints resolve to more addresses than the open-files limit has sockets for (32): some addresses wait for a free descriptor"]


# ---- file: endpoints, probes, --json ------------------------------------------------------------


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


@contextmanager
def listening():
    """The port of a socket that listens from the start (the kernel completes connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def test_probe_makes_one_attempt_per_endpoint_and_never_raises(tmp_path):
    (tmp_path / "there").write_text("x")
    with listening() as up:
        down = free_port()
        results = probe(f"127.0.0.1:{up}", f"127.0.0.1:{down}", f"file:{tmp_path / 'there'}", f"file:{tmp_path / 'not'}", timeout=5)
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


def test_cli_probe_exit_codes_and_messages(tmp_path):
    with listening() as up:
        ok = run([tool("wait-for-port"), "--probe", f"127.0.0.1:{up}"], timeout=30)
        down = free_port()
        bad = run([tool("wait-for-port"), "--probe", f"127.0.0.1:{up}", f"127.0.0.1:{down}"], timeout=30)
    assert ok.returncode == 0 and ok.stderr == ""
    assert bad.returncode == 1
    assert bad.stderr == f"wait-for-port: 127.0.0.1:{down} not ready: Connection refused\n"
    for args in (["--probe", "--stable", "100", "db:1"], ["--probe", "db:1", "--", "true"]):
        r = run([tool("wait-for-port"), *args], timeout=30)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--probe" in r.stderr


JSON_SCHEMA = {
    "type": "object",
    "required": ["ready", "endpoints"],
    "additionalProperties": False,
    "properties": {
        "ready": {"type": "boolean"},
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["endpoint", "ready", "elapsed_ms", "attempts", "last_error"],
                "additionalProperties": False,
                "properties": {
                    "endpoint": {"type": "string"},
                    "ready": {"type": "boolean"},
                    "elapsed_ms": {"type": ["number", "null"], "minimum": 0},
                    "attempts": {"type": "integer", "minimum": 0},
                    "last_error": {"type": ["string", "null"]},
                },
            },
        },
    },
}


@pytest.mark.parametrize("mode", [[], ["--probe"]])
def test_cli_json_document_matches_its_schema(tmp_path, mode):
    import jsonschema

    (tmp_path / "there").write_text("x")
    down = free_port()
    r = run([tool("wait-for-port"), *mode, "--json", "-t", "2", f"file:{tmp_path / 'there'}", f"127.0.0.1:{down}"], timeout=30)
    assert r.returncode == (1 if mode else 10)
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, JSON_SCHEMA)
    there, gone = doc["endpoints"]
    assert doc["ready"] is False and there["ready"] is True and there["last_error"] is None
    assert gone == {"endpoint": f"127.0.0.1:{down}", "ready": False, "elapsed_ms": None, "attempts": gone["attempts"], "last_error": "Connection refused"}
    assert gone["attempts"] == 1 if mode else gone["attempts"] > 1
    ok = run([tool("wait-for-port"), "--json", "-q", f"file:{tmp_path / 'there'}"], timeout=30)
    assert ok.returncode == 0 and ok.stderr == "" and json.loads(ok.stdout)["ready"] is True


def test_async_twin_and_api_take_file_endpoints(tmp_path):
    there = tmp_path / "there"
    write_later(there, 0.1, b"x")
    (r,) = asyncio.run(async_wait_for_port(f"file:{there}", timeout=30))
    assert r.ready
