"""Benchmark wait-for-port against the original algorithm, in one run, on loopback only.

    scripts/bench-wait [--trials N] [--wait-for-port PATH]

Measures, for both with default flags:
  - detection latency: a listener opens at a random moment; time until the command exits;
  - deadline overshoot against dropped SYNs (in a network namespace made here, with an
    nftables drop rule): how long after its timeout the command exits;
  - CPU used while waiting for an endpoint that never opens;
and for wait-for-port alone: 1,000 endpoints opening at random moments, all detected or not.
With redis-server and PostgreSQL installed, also the time from starting each server until
wait-for-port redis:// and postgres:// exit, beside the usual shell loops around redis-cli and
pg_isready (`until ...; do sleep 1; done`).

The original algorithm (blocking connect_ex on each endpoint in turn, then sleep(period), for
timeout/period rounds) is re-implemented below as the baseline.
"""

import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from . import REPO, arguments

PROG = "bench-wait"

ORIGINAL = r"""
import socket, sys, time
argv, timeout, period, endpoints = sys.argv[1:], 600, 0.5, []
while argv:
    a = argv.pop(0)
    if a in ("-t", "--timeout"):
        timeout = int(argv.pop(0))
    elif a == "--period":
        period = float(argv.pop(0))
    else:
        host, port = a.rsplit(":", 1)
        endpoints.append((host.strip("[]"), int(port)))

def check(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        return s.connect_ex((host, port)) == 0
    finally:
        s.close()

for _ in range(int(timeout / period)):
    if all([check(h, p) for h, p in endpoints]):
        sys.exit(0)
    time.sleep(period)
sys.exit(10)
"""


def bound_socket() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def latency(cmd: list[str], trials: int, rng: random.Random) -> list[float]:
    """Seconds from a listener opening (at a random moment) until CMD exits, per trial."""
    out = []
    for _ in range(trials):
        s = bound_socket()
        port = s.getsockname()[1]
        p = subprocess.Popen([*cmd, f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.3))
        s.listen(16)
        opened = time.perf_counter()
        p.wait()
        out.append(time.perf_counter() - opened)
        s.close()
    return out


def cpu_share(cmd: list[str], seconds: float) -> float:
    """Share of one core CMD uses while waiting SECONDS for a port that never opens."""
    s = bound_socket()
    port = s.getsockname()[1]
    start = time.perf_counter()
    p = subprocess.Popen([*cmd, f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # leave out start-up
    before = _cpu(p.pid)
    time.sleep(seconds)
    used = _cpu(p.pid) - before
    p.kill()
    p.wait()
    s.close()
    del start
    return used / seconds


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overshoot(cmd: list[str], timeout: float, cap: float) -> float | str | None:
    """Seconds past TIMEOUT that CMD takes against dropped SYNs; None if still running at CAP."""
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", ns]).returncode != 0:
        return "no netns"
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        rules = "table inet t {\n chain incoming {\n type filter hook input priority 0; tcp dport 9 drop\n }\n}\n"
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True, check=True)
        start = time.perf_counter()
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd, "-t", str(timeout), "127.0.0.1:9"], stderr=subprocess.DEVNULL
        )
        try:
            p.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None
        return time.perf_counter() - start - timeout
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def thousand(cmd: list[str], n: int, rng: random.Random) -> tuple[int, float]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * n + 256), hard))
    socks = [bound_socket() for _ in range(n)]
    schedule = sorted((rng.uniform(0, 2.0), s) for s in socks)
    start = time.perf_counter()
    p = subprocess.Popen([*cmd, "-q", "-t", "30", *(f"127.0.0.1:{s.getsockname()[1]}" for s in socks)])
    for at, s in schedule:
        delay = start + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        s.listen(4)  # the kernel completes the handshakes: no accept() needed
    rc = p.wait()
    took = time.perf_counter() - start
    for s in socks:
        s.close()
    return rc, took


def server_start(
    wait_cmd: list[str],
    start: Callable[[], subprocess.Popen[bytes]],
    stop: Callable[[subprocess.Popen[bytes]], object],
    trials: int,
) -> list[float]:
    """Seconds from starting a server (START() returns its process) until WAIT_CMD exits,
    per trial; WAIT_CMD is started first."""
    out = []
    for _ in range(trials):
        waiter = subprocess.Popen(wait_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        t0 = time.perf_counter()
        server = start()
        waiter.wait()
        out.append(time.perf_counter() - t0)
        stop(server)
    return out


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait()


def race(
    server: str,
    ours: list[str],
    endpoint: str,
    start: Callable[[], subprocess.Popen[bytes]],
    tool: str,
    loop: str,
    trials: int,
) -> None:
    """Prints the median time from starting SERVER until wait-for-port ENDPOINT exits, beside
    the same for LOOP, the shell loop around the server's own TOOL."""
    o = server_start([*ours, "-t", "60", endpoint], start, _stop, trials)
    b = server_start(["sh", "-c", loop], start, _stop, trials)
    scheme = endpoint.split("//")[0] + "//"
    print(
        f"{server} start to ready, median of {trials}: wait-for-port {scheme} {statistics.median(o) * 1000:.1f} ms,"
        f" {tool} loop {statistics.median(b) * 1000:.1f} ms"
    )


def bench_servers(ours: list[str], trials: int) -> None:
    import glob
    import tempfile

    port = free_port()
    redis = shutil.which("redis-server")
    if redis:
        work = tempfile.mkdtemp()
        redis_argv = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", work]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL)

        loop = f'until [ "$(redis-cli -p {port} ping 2>/dev/null)" = PONG ]; do sleep 1; done'
        race("redis-server", ours, f"redis://127.0.0.1:{port}", start, "redis-cli ping", loop, trials)
        shutil.rmtree(work)
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if bins and shutil.which("setpriv"):
        pg = bins[-1]
        work = tempfile.mkdtemp()
        os.chmod(work, 0o755)
        shutil.chown(work, "nobody", "nogroup")
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        subprocess.run(
            [*nobody, f"{pg}/initdb", "-D", f"{work}/data", "--auth=trust"],
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pg_argv = [
            *nobody,
            f"{pg}/postgres",
            "-D",
            f"{work}/data",
            "-p",
            str(port),
            "-k",
            work,
            "-c",
            "listen_addresses=127.0.0.1",
        ]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(pg_argv, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        loop = f"until {pg}/pg_isready -q -h 127.0.0.1 -p {port}; do sleep 1; done"
        race("postgres", ours, f"postgres://127.0.0.1:{port}", start, "pg_isready", loop, trials)
        shutil.rmtree(work)


def free_port() -> int:
    with bound_socket() as s:
        return int(s.getsockname()[1])


def main(argv: list[str]) -> int:
    parser = arguments(PROG, __doc__)
    parser.add_argument("--trials", type=int, default=20)
    default = os.path.join(REPO, ".venv", "bin", "wait-for-port")
    parser.add_argument(
        "--wait-for-port", default=default if os.path.exists(default) else shutil.which("wait-for-port")
    )
    args = parser.parse_args(argv)
    if not args.wait_for_port:
        sys.exit("bench-wait: no wait-for-port found; run scripts/test once or pass --wait-for-port")
    ours = [args.wait_for_port]
    original = [sys.executable, "-c", ORIGINAL]
    rng = random.Random(1)

    lat_o, lat_b = latency(ours, args.trials, rng), latency(original, args.trials, rng)
    print(f"detection latency over {args.trials} trials (listener opens at a random moment):")
    print(f"  original:      median {statistics.median(lat_b) * 1000:7.1f} ms, max {max(lat_b) * 1000:7.1f} ms")
    print(f"  wait-for-port: median {statistics.median(lat_o) * 1000:7.1f} ms, max {max(lat_o) * 1000:7.1f} ms")
    print(f"  median ratio:  {statistics.median(lat_b) / statistics.median(lat_o):.1f}x")

    cap = 15
    o, b = overshoot(ours, 1, cap), overshoot(original, 3, cap)

    def fmt(v: float | str | None) -> str:
        return v if isinstance(v, str) else f"still running after {cap} s" if v is None else f"{v * 1000:.1f} ms"

    print("exit past the deadline against dropped SYNs:")
    print(f"  original (-t 3):      {fmt(b)}")
    print(f"  wait-for-port (-t 1): {fmt(o)}")

    c_o, c_b = cpu_share(ours, 5), cpu_share(original, 5)
    print("CPU while waiting 5 s for a port that never opens:")
    print(f"  original:      {c_b * 100:.2f} % of a core")
    print(f"  wait-for-port: {c_o * 100:.2f} % of a core")

    bench_servers(ours, 5)

    rc, took = thousand(ours, 1000, rng)
    print(
        f"1000 endpoints opening at random moments within 2 s: wait-for-port exit {rc} after {took:.2f} s ({'all detected' if rc == 0 else 'NOT all detected'})"
    )
    return 0
