"""The wait-for-port command: its lines and exit statuses, its bad input, its environment, exec
of the command after --, --probe, --json (also when stdout cannot take it) and --verbose, and
its deadline under strace."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import SANITIZED, run, tool
from loopback import free_port, http_server, listener_later, listening
from strace_log import connects_after, first


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


def test_cli_infinite_timeout_waits_forever():
    with listener_later(0.5) as port:
        r = run([tool("wait-for-port"), "-t", "inf", f"127.0.0.1:{port}"], timeout=60)
    assert r.returncode == 0, r.stderr


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


def test_cli_environment_fallbacks():
    a, b = free_port(), free_port()
    env = dict(
        os.environ,
        WAIT_FOR_PORTS=f"127.0.0.1:{a}, 127.0.0.1:{b}",
        WAIT_FOR_PORT_TIMEOUT="0.3",
        WAIT_FOR_PORT_PERIOD="0.1",
    )
    r = run([tool("wait-for-port")], env=env, timeout=30)
    assert r.returncode == 10 and len(r.stderr.splitlines()) == 2
    assert "after 0.3 s" in r.stderr
    env["WAIT_FOR_PORT_TIMEOUT"] = "later"
    r = run([tool("wait-for-port")], env=env, timeout=30)
    assert r.returncode == 2 and "WAIT_FOR_PORT_TIMEOUT" in r.stderr


def test_cli_execs_the_command_on_success_only():
    code = "import os; print(os.getpid())"
    with listener_later(0) as port:
        p = subprocess.Popen(
            [tool("wait-for-port"), "-q", f"127.0.0.1:{port}", "--", sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0 and int(out) == p.pid  # the same process: exec, not a child
    r = run(
        [tool("wait-for-port"), "-q", "-t", "0.2", f"127.0.0.1:{free_port()}", "--", "touch", "/nonexistent/never"],
        timeout=30,
    )
    assert r.returncode == 10


def test_cli_raises_the_open_files_limit():
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    listeners = [socket.socket() for _ in range(200)]
    try:
        for s in listeners:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
        endpoints = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
        r = run(
            [tool("wait-for-port"), "-q", "-t", "30", *endpoints],
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard)),
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        r = run(
            [tool("wait-for-port"), "-t", "30", *endpoints],
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
            timeout=60,
        )
    finally:
        for s in listeners:
            s.close()
    assert r.returncode == 2
    assert (
        r.stderr
        == "wait-for-port: 200 endpoints need a socket each, but the open-files limit is 64 (ulimit -n), 32 of them kept for the rest of the process\n"
    )


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_every_socket_is_closed_exactly_once():
    # A second close() of a number another thread has reused since would close its file.
    with listener_later(0) as up, listener_later(0.3) as late, http_server(lambda path: 200) as web:
        r = run(
            [
                "strace",
                "-f",
                "-e",
                "trace=close",
                tool("wait-for-port"),
                "-q",
                f"127.0.0.1:{up}",
                f"localhost:{late}",
                f"http://127.0.0.1:{web}/",
            ],
            timeout=60,
        )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "EBADF" not in r.stderr


def test_slow_connects_never_push_past_the_deadline(tmp_path):
    # Under strace every connect() costs far more than usual, as it does where a crowded port
    # space makes each one take milliseconds: one turn that started 15,000 attempts at once
    # would run seconds past the deadline. The deadline counts from process start (the
    # execve); attempts are made until it, none after it (half a second allows for strace
    # stamping a call late). The sanitizer build takes seconds to start under strace: it gets a
    # deadline that still leaves it time to connect.
    import resource

    count = min(15000, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100)
    seconds = 8 if SANITIZED else 2
    log = tmp_path / "strace.log"
    endpoints = [f"127.0.0.1:{free_port()}"] * count
    r = run(
        [
            "strace",
            "-f",
            "-ttt",
            "-qq",
            "-e",
            "trace=execve,connect",
            "-o",
            log,
            tool("wait-for-port"),
            "-q",
            "-t",
            str(seconds),
            *endpoints,
        ],
        timeout=300,
    )
    assert r.returncode == 10, r.stderr[-1000:]
    text = log.read_text()
    started = first(text, "execve(")
    assert connects_after(text, started) > 0
    assert connects_after(text, started + seconds + 0.5) == 0


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
    "required": ["ready", "error", "endpoints"],
    "additionalProperties": False,
    "properties": {
        "ready": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
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
    r = run(
        [tool("wait-for-port"), *mode, "--json", "-t", "2", f"file:{tmp_path / 'there'}", f"127.0.0.1:{down}"],
        timeout=30,
    )
    assert r.returncode == (1 if mode else 10)
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, JSON_SCHEMA)
    there, gone = doc["endpoints"]
    assert doc["ready"] is False and there["ready"] is True and there["last_error"] is None
    assert gone == {
        "endpoint": f"127.0.0.1:{down}",
        "ready": False,
        "elapsed_ms": None,
        "attempts": gone["attempts"],
        "last_error": "Connection refused",
    }
    assert gone["attempts"] == 1 if mode else gone["attempts"] > 1
    ok = run([tool("wait-for-port"), "--json", "-q", f"file:{tmp_path / 'there'}"], timeout=30)
    assert ok.returncode == 0 and ok.stderr == "" and json.loads(ok.stdout)["ready"] is True


@pytest.mark.parametrize(
    "stdout, why", [("full", "No space left on device"), ("reader gone", "Broken pipe"), ("closed", "stdout is closed")]
)
def test_cli_json_when_stdout_cannot_take_it(tmp_path, stdout, why):
    # One line says so, the exit status is the wait's, and -- CMD still runs after a ready wait.
    wrap = ["sh", "-c", 'exec "$@" >&-', "sh"] if stdout == "closed" else []
    reader, writer = os.pipe()
    os.close(reader)
    out = {"full": os.open("/dev/full", os.O_WRONLY), "reader gone": writer, "closed": subprocess.DEVNULL}[stdout]
    ran = tmp_path / "ran"
    try:
        with listening() as port:
            ready = run(
                [*wrap, tool("wait-for-port"), "--json", f"127.0.0.1:{port}", "--", "touch", ran],
                stdout=out,
                capture_output=False,
                stderr=subprocess.PIPE,
                timeout=60,
            )
        down = run(
            [*wrap, tool("wait-for-port"), "--json", "-t", "0.3", f"127.0.0.1:{free_port()}"],
            stdout=out,
            capture_output=False,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(writer)
        if stdout == "full":
            os.close(out)
    assert (ready.returncode, down.returncode) == (0, 10), ready.stderr + down.stderr
    assert ran.exists()
    for r in (ready, down):
        assert "Traceback" not in r.stderr and "Exception" not in r.stderr
        assert [line for line in r.stderr.splitlines() if "--json" in line] == [
            f"wait-for-port: cannot print the --json document: {why}"
        ]


@pytest.mark.parametrize(
    "args, error",
    [
        (["--json", "--bogus", "db:1"], "unrecognized arguments: --bogus"),
        (["--js", "--period", "0", "db:1"], "period must be a number of seconds from 0.001 up, not 0.0"),
        (
            ["--json", "--probe", "--stable", "5", "db:1"],
            "--probe tries each endpoint once: it takes no --stable and no -- CMD",
        ),
        (["--json"], "no endpoint given (arguments or $WAIT_FOR_PORTS)"),
    ],
)
def test_cli_json_document_on_bad_input(args, error):
    r = run([tool("wait-for-port"), *args], timeout=30)
    assert r.returncode == 2
    assert r.stderr == f"wait-for-port: {error}\n"
    assert json.loads(r.stdout) == {"ready": False, "error": error, "endpoints": []}


def verbose_lines(stderr: str, endpoint: str) -> list[str]:
    """The --verbose lines of ENDPOINT in STDERR, without their times (each checked for its
    shape), and the deadline's."""
    lines = []
    for line in stderr.splitlines():
        stamp, _, rest = line.partition(" ")
        if not (stamp.startswith("+") and stamp[1:].replace(".", "", 1).isdigit() and len(stamp.split(".")[-1]) == 3):
            continue
        if rest.startswith(f"{endpoint} "):
            lines.append(rest[len(endpoint) + 1 :])
        elif rest == "deadline reached":
            lines.append(rest)
    return lines


@pytest.mark.parametrize("kind", ["tcp", "unix", "http", "file"])
def test_cli_verbose_says_each_step(tmp_path, kind):
    # Refused or absent first, then ready: every kind says what it met and when it tries again.
    if kind == "tcp":
        server = socket.socket()
        server.bind(("127.0.0.1", 0))  # connections refused until listen()
        endpoint, opening = f"127.0.0.1:{server.getsockname()[1]}", contextlib.nullcontext()
    elif kind == "http":
        calls = []
        endpoint, opening = None, http_server(lambda path: calls.append(path) or (503 if len(calls) < 3 else 200))
    else:
        path = tmp_path / ("sock" if kind == "unix" else "file")
        endpoint, opening = f"{kind}:{path}", None
    with opening or listening() as port:
        endpoint = endpoint or (f"127.0.0.1:{port}" if kind == "tcp" else f"http://127.0.0.1:{port}/up")
        p = subprocess.Popen(
            [tool("wait-for-port"), "-v", "-q", "--period", "0.2", "-t", "60", endpoint],
            stderr=subprocess.PIPE,
            text=True,
        )
        # its first attempt said (however slowly a busy machine starts it), the endpoint opens
        head = p.stderr.readline()
        if kind == "tcp":
            head += p.stderr.readline()  # after the name's resolution, the attempt
            server.listen(1)
        elif kind == "unix":
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(path))
            server.listen(1)
        elif kind == "file":
            path.write_text("here")
        _, rest = p.communicate(timeout=60)
        err = head + rest
    assert p.returncode == 0, err
    lines = verbose_lines(err, endpoint)
    assert lines[-1] == "is ready" and "Traceback" not in err
    first = {
        "tcp": "resolved: 127.0.0.1 (IPv4)",
        "http": "resolved: 127.0.0.1 (IPv4)",
        "unix": "attempt 1: No such file or directory; next attempt in 10 ms",
        "file": "attempt 1: no such file; next attempt in 10 ms",
    }[kind]
    assert lines[0] == first
    if kind == "tcp":
        assert lines[1] == "attempt 1 to 127.0.0.1: Connection refused; next attempt in 10 ms"
    if kind == "http":
        # an answer that is not ready: the next attempt comes a period after this one started
        # (the second 503 is like the first, and comes within a second of it: held back)
        assert len(lines) == 3 and re.fullmatch(
            r"attempt 1 to 127\.0\.0\.1: HTTP status 503; next attempt in 1\d\d ms", lines[1]
        ), lines
    if kind in ("tcp", "unix"):
        server.close()


def test_cli_verbose_holds_back_attempts_alike_and_says_the_deadline():
    port = free_port()
    # 4.5 s: lines a second apart come even where a busy machine holds the process back a while
    r = run([tool("wait-for-port"), "-v", "-t", "4.5", f"127.0.0.1:{port}"], timeout=60)
    assert r.returncode == 10
    lines = verbose_lines(r.stderr, f"127.0.0.1:{port}")
    assert lines[0] == "resolved: 127.0.0.1 (IPv4)" and lines[-1] == "deadline reached"
    attempts = lines[1:-1]
    assert attempts[0] == "attempt 1 to 127.0.0.1: Connection refused; next attempt in 10 ms"
    # about a hundred attempts a second, a line a second: the ones between are counted
    assert 2 <= len(attempts) <= 6, attempts
    for line in attempts[1:]:
        assert re.fullmatch(
            r"attempt \d+ to 127\.0\.0\.1: Connection refused; next attempt in 10 ms \(and \d+ like it before, not shown\)",
            line,
        ), line
    # -v wins over -q, and the report at the timeout stays
    assert r.stderr.endswith(f"wait-for-port: 127.0.0.1:{port} still down after 4.5 s: Connection refused\n")
