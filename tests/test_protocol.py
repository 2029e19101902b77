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
from snakepack import probe, wait_for_port

from conftest import clean_env, run, tool
from loopback import StreamServer, free_port

pytestmark = pytest.mark.needs("servers")

REDIS = shutil.which("redis-server")
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
PG_BIN = PG_BIN[-1] if PG_BIN else None
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (scripts/test installs it)")
needs_pg = pytest.mark.skipif(PG_BIN is None, reason="postgresql is not installed (scripts/test installs it)")


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
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            *options,
        ],
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


def probe_answered_by(scheme: str, answer: bytes, reads: bool = True):
    """Probes SCHEME://127.0.0.1:PORT where a loopback server sends ANSWER (after reading the
    question, when READS)."""

    def serve(conn):
        if reads:
            conn.recv(100)
        conn.sendall(answer)

    with StreamServer(serve) as server:
        (r,) = probe(f"{scheme}://127.0.0.1:{server.port}", timeout=5)
    return r


def test_a_server_that_is_not_redis_is_not_ready():
    r = probe_answered_by("redis", b"SSH-2.0-OpenSSH_9.2\r\n")
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


# ---- MariaDB ------------------------------------------------------------------------------------

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
needs_mariadb = pytest.mark.skipif(
    MARIADBD is None, reason="mariadb-server is not installed (scripts/test installs it)"
)


@pytest.fixture
def mariadb():
    """A MariaDB server made with mariadb-install-db in a temporary directory, run as nobody with
    max_connections=10 (its least); yields (port, socket path)."""
    if MARIADBD is None:
        pytest.skip("mariadb-server is not installed")
    work = tempfile.mkdtemp(prefix="snakepack-mariadb-")
    os.chmod(work, 0o755)
    shutil.chown(work, "nobody", "nogroup")
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    r = subprocess.run(
        [
            *nobody,
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={work}/data",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        capture_output=True,
        text=True,
        cwd="/",
        env=clean_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    port, sock = free_port(), f"{work}/sock"
    server = subprocess.Popen(
        [
            *nobody,
            MARIADBD,
            "--no-defaults",
            f"--datadir={work}/data",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={sock}",
            f"--pid-file={work}/pid",
            "--max-connections=10",
            "--skip-name-resolve",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        env=clean_env(),
    )
    try:
        yield port, sock
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work)


def mariadb_client(sock, user, sql, *, capture=True):
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        ["mariadb", f"--socket={sock}", "-u", user, "-e", sql],
        stdout=out,
        stderr=out,
        text=True,
        cwd="/",
        env=clean_env(),
    )


@needs_mariadb
def test_mariadb_ready_on_its_handshake_and_with_every_connection_taken(mariadb):
    port, sock = mariadb
    (r,) = wait_for_port(f"mysql://127.0.0.1:{port}", timeout=120)
    assert r.ready
    setup = mariadb_client(sock, "root", "CREATE USER app@localhost; GRANT USAGE ON *.* TO app@localhost;")
    _, err = setup.communicate(timeout=60)
    assert setup.returncode == 0, err
    # max_connections=10: ten sessions of a user without SUPER take every place. Clients
    # started at once may turn each other away while they authenticate: start them until the
    # server itself (root, on the place kept for SUPER) counts ten.
    holders: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            count = mariadb_client(
                sock, "root", "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'app'"
            )
            out, _ = count.communicate(timeout=60)
            if out.split()[-1:] == ["10"]:
                break
            assert time.monotonic() < deadline, f"the sessions never took every place: {out!r}"
            holders = [h for h in holders if h.poll() is None]  # those turned away are gone
            holders += [
                mariadb_client(sock, "app", "SELECT SLEEP(120)", capture=False) for _ in range(10 - len(holders))
            ]
            time.sleep(0.5)
        # ...as the server says to the next one (error 1040)
        other = mariadb_client(sock, "app", "SELECT 1")
        _, err = other.communicate(timeout=60)
        assert "Too many connections" in err and "1040" in err, err
        # and the server is up, only full: ready
        (r,) = probe(f"mariadb://127.0.0.1:{port}", timeout=5)
        assert r.ready
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


# MySQL 8 turns a client away before its handshake (error 1040, too many connections; 1053 while
# it shuts down); MariaDB 10.11, the server Debian has, checks only after authentication, so it
# cannot produce those packets here: a loopback server sends them as MySQL 8 writes them.
def mysql_error(code: int, sqlstate: bytes, message: bytes) -> bytes:
    payload = b"\xff" + code.to_bytes(2, "little") + b"#" + sqlstate + message
    return len(payload).to_bytes(3, "little") + b"\x00" + payload


def test_mysql_error_packets_before_the_handshake():
    full = probe_answered_by("mysql", mysql_error(1040, b"08004", b"Too many connections"), reads=False)
    assert full.ready  # up, not for us
    closing = probe_answered_by("mysql", mysql_error(1053, b"08S01", b"Server shutdown in progress"), reads=False)
    assert not closing.ready and closing.detail == "mysql: error 1053 Server shutdown in progress"


# ---- RabbitMQ -----------------------------------------------------------------------------------

RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server" if os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server") else None


@pytest.mark.skipif(RABBITMQ is None, reason="rabbitmq-server is not installed (scripts/test installs it)")
def test_rabbitmq_ready_on_connection_start(tmp_path):
    # a node of its own, as nobody, with its own Erlang port mapper: nothing shared with others
    work = tempfile.mkdtemp(prefix="snakepack-rabbitmq-")
    os.chmod(work, 0o755)
    shutil.chown(work, "nobody", "nogroup")
    plugins = os.path.join(work, "enabled_plugins")
    with open(plugins, "w") as f:
        f.write("[].\n")
    port, epmd = free_port(), free_port()
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": work,
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_NODENAME": f"snakepack{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": os.path.join(work, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(work, "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": plugins,
        "RABBITMQ_CONFIG_FILE": os.path.join(work, "rabbitmq"),
    }
    server = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", RABBITMQ],
        env=env,
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        r = run([tool("wait-for-port"), "--json", "-t", "180", f"amqp://127.0.0.1:{port}/"], timeout=240)
        assert r.returncode == 0, r.stderr
        (doc,) = json.loads(r.stdout)["endpoints"]
        assert doc["ready"] and doc["attempts"] >= 1
        # the broker itself says Connection.Start (class 10, method 10) to a client
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            frame = s.recv(11)
        assert frame[0] == 1 and frame[7:11] == b"\x00\x0a\x00\x0a"
    finally:
        os.killpg(server.pid, 15)  # the broker and its Erlang port mapper
        server.wait(timeout=60)
        subprocess.run(["pkill", "-u", "nobody", "-f", f"epmd.*{epmd}|snakepack{port}@"], env=clean_env())
        subprocess.run(["sh", "-c", f"ERL_EPMD_PORT={epmd} epmd -kill"], capture_output=True, env=clean_env())
        shutil.rmtree(work, ignore_errors=True)


def test_an_amqp_server_of_another_version_is_up():
    assert probe_answered_by("amqp", b"AMQP\x00\x00\x09\x01").ready
    r = probe_answered_by("amqp", b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert not r.ready and r.detail.startswith("not an AMQP answer: HTTP/1.1")


# ---- --verbose ----------------------------------------------------------------------------------

PG_FIELDS = b"SFATAL\0C57P03\0Mthe database system is starting up\0\0"
PG_STARTING = b"E" + (4 + len(PG_FIELDS)).to_bytes(4, "big") + PG_FIELDS
NOT_READY_THEN_READY = {
    "redis": (
        b"-LOADING Redis is loading the dataset in memory\r\n",
        b"+PONG\r\n",
        "redis: LOADING Redis is loading the dataset in memory",
    ),
    "postgres": (PG_STARTING, b"R\0\0\0\x08\0\0\0\0", "postgres: 57P03 the database system is starting up"),
    "mysql": (
        mysql_error(1053, b"08S01", b"Server shutdown in progress"),
        mysql_error(1040, b"08004", b"Too many connections"),
        "mysql: error 1053 Server shutdown in progress",
    ),
    "amqp": (b"HTTP/1.1 400 Bad Request\r\n\r\n", b"AMQP\0\0\x09\x01", "not an AMQP answer: HTTP/1.1 400 Bad"),
}


@pytest.mark.parametrize("scheme", sorted(NOT_READY_THEN_READY))
def test_verbose_says_what_the_server_answered(scheme):
    not_ready, ready, words = NOT_READY_THEN_READY[scheme]
    answers = [not_ready]

    def serve(conn):
        if scheme != "mysql":  # MySQL speaks first
            conn.recv(100)
        conn.sendall(answers.pop() if answers else ready)

    with StreamServer(serve) as server:
        endpoint = f"{scheme}://127.0.0.1:{server.port}"
        r = run([tool("wait-for-port"), "-v", "-t", "60", endpoint], timeout=90)
    assert r.returncode == 0, r.stderr
    lines = [line.split(" ", 1)[1] for line in r.stderr.splitlines() if line.startswith("+")]
    assert lines == [
        f"{endpoint} resolved: 127.0.0.1 (IPv4)",
        f"{endpoint} attempt 1 to 127.0.0.1: {words}; next attempt in 50 ms",  # "not yet": asked again soon
        f"{endpoint} is ready",
    ]
