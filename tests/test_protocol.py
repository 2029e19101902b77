"""Readiness beyond an open port (ext/protocol.c, the exchanges of ext/netwait.c), against the
real servers of Debian's redis-server and postgresql packages, started here on loopback in
temporary directories, their not-ready states produced for real: Redis loading an RDB file
slowly (key-load-delay), PostgreSQL held as a standby with hot_standby off until promoted."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest

from conftest import clean_env, run, tool
from snakepack import probe, wait_for_port

REDIS = shutil.which("redis-server")
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
PG_BIN = PG_BIN[-1] if PG_BIN else None
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (scripts/test installs it)")
needs_pg = pytest.mark.skipif(PG_BIN is None, reason="postgresql is not installed (scripts/test installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- Redis --------------------------------------------------------------------------------------


def redis_command(port: int, *words: str) -> bytes:
    """Sends one RESP command and returns the first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words))
        return s.makefile("rb").readline()


@contextmanager
def redis(workdir, *options: str):
    """A redis-server on a free loopback port, in WORKDIR; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),  # the servers are not ours: no sanitizer runtime preloaded into them
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def rdb_dir():
    """A directory holding dump.rdb with 40,000 keys, written by a real Redis."""
    if REDIS is None:
        pytest.skip("redis-server is not installed")
    work = tempfile.mkdtemp(prefix="snakepack-redis-")
    with redis(work, "--enable-debug-command", "yes") as port:
        wait_for_port(f"redis://127.0.0.1:{port}", timeout=30)
        assert redis_command(port, "DEBUG", "POPULATE", "40000") == b"+OK\r\n"
        assert redis_command(port, "SAVE") == b"+OK\r\n"
    yield work
    shutil.rmtree(work)


# Loading the file takes seconds (a delay after each key), and the server answers while it
# loads (it looks at its connections every kilobyte): its not-ready state, for real.
SLOW_LOAD = ("--key-load-delay", "50", "--loading-process-events-interval-bytes", "1024")


@needs_redis
def test_redis_ready_on_pong(tmp_path):
    with redis(tmp_path) as port:
        (r,) = wait_for_port(f"redis://127.0.0.1:{port}", timeout=30)
        assert r.ready
        assert redis_command(port, "PING") == b"+PONG\r\n"  # the server itself agrees


@needs_redis
def test_redis_loading_is_not_ready_until_loaded(rdb_dir):
    with redis(rdb_dir, *SLOW_LOAD) as port:
        wait_for_port(f"127.0.0.1:{port}", timeout=30)  # the port is open...
        (early,) = probe(f"redis://127.0.0.1:{port}", timeout=5)
        assert not early.ready and early.detail.startswith("redis: LOADING"), early  # ...but it loads
        r = run([tool("wait-for-port"), "--json", "-t", "120", f"redis://127.0.0.1:{port}"], timeout=180)
        assert r.returncode == 0, r.stderr
        (doc,) = json.loads(r.stdout)["endpoints"]
        assert doc["ready"] and doc["attempts"] > 1
        assert redis_command(port, "DBSIZE") == b":40000\r\n"  # loaded, as the wait said


@needs_redis
def test_redis_noauth_counts_as_ready_even_while_loading(rdb_dir):
    # Redis checks the password before it checks loading: with requirepass it answers -NOAUTH
    # at once, and that is ready (up, not for us)
    with redis(rdb_dir, "--requirepass", "s3cret", *SLOW_LOAD) as port:
        wait_for_port(f"127.0.0.1:{port}", timeout=30)
        (r,) = probe(f"redis://127.0.0.1:{port}", timeout=5)
        assert r.ready
        assert redis_command(port, "PING").startswith(b"-NOAUTH")


def test_a_server_that_is_not_redis_is_not_ready():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer():
            conn, _ = server.accept()
            conn.recv(100)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

        import threading

        t = threading.Thread(target=answer)
        t.start()
        (r,) = probe(f"redis://127.0.0.1:{port}", timeout=5)
        t.join()
    assert not r.ready and r.detail == "not a Redis answer: SSH-2.0-OpenSSH_9.2"


# ---- PostgreSQL ---------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL cluster made with initdb in a temporary directory, run as the unprivileged
    user nobody (the server refuses to run as root)."""

    def __init__(self, *initdb_args: str):
        self.dir = tempfile.mkdtemp(prefix="snakepack-pg-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "nobody", "nogroup")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_nobody(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", *initdb_args)

    def as_nobody(self, *argv: str, check: bool = True, popen: bool = False):
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        if popen:
            return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env=clean_env())
        r = subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=120, env=clean_env())
        assert not check or r.returncode == 0, r.stdout + r.stderr
        return r

    def start(self, *settings: str) -> None:
        args = ["-D", self.data, "-p", str(self.port), "-k", self.dir, "-c", "listen_addresses=127.0.0.1"]
        for s in settings:
            args += ["-c", s]
        self.proc = self.as_nobody(f"{PG_BIN}/postgres", *args, popen=True)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        shutil.rmtree(self.dir)


@pytest.fixture
def postgres():
    if PG_BIN is None:
        pytest.skip("postgresql is not installed")
    made: list[Postgres] = []

    def make(*initdb_args: str) -> Postgres:
        made.append(Postgres(*initdb_args))
        return made[-1]

    yield make
    for pg in made:
        pg.close()


@needs_pg
def test_postgres_standby_is_not_ready_until_promoted(postgres):
    pg = postgres("--auth=trust")
    open(os.path.join(pg.data, "standby.signal"), "w").close()
    shutil.chown(os.path.join(pg.data, "standby.signal"), "nobody", "nogroup")
    pg.start("hot_standby=off")
    endpoint = f"postgres://127.0.0.1:{pg.port}"
    wait_for_port(f"127.0.0.1:{pg.port}", timeout=60)  # the port is open...
    # ...but a standby without hot standby takes no connection: 57P03, for as long as it stays so
    for _ in range(3):
        (r,) = probe(endpoint, timeout=5)
        # "starting up" at first, then "not accepting connections": both 57P03
        assert not r.ready and r.detail.startswith("postgres: 57P03 the database system is "), r
        time.sleep(0.2)
    pg.as_nobody(f"{PG_BIN}/pg_ctl", "promote", "-D", pg.data)
    (r,) = wait_for_port(endpoint, timeout=60)
    assert r.ready
    # what the server said to the probe: our role does not exist (up, not for us)
    (again,) = probe(endpoint, timeout=5)
    assert again.ready


@needs_pg
def test_postgres_that_requires_a_password_is_ready(postgres, tmp_path):
    pwfile = os.path.join(tempfile.gettempdir(), f"snakepack-pw-{os.getpid()}")
    with open(pwfile, "w") as f:
        f.write("s3cret\n")
    os.chmod(pwfile, 0o644)
    try:
        pg = postgres("--auth=scram-sha-256", f"--pwfile={pwfile}")
    finally:
        os.unlink(pwfile)
    pg.start()
    r = run([tool("wait-for-port"), "--json", "-t", "60", f"postgresql://127.0.0.1:{pg.port}/appdb"], timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ready"] is True
    assert run([tool("wait-for-port"), "--probe", f"postgres://127.0.0.1:{pg.port}"], timeout=60).returncode == 0
