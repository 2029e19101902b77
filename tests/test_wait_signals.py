"""wait-for-port and signals: SIGTERM and SIGINT end the wait at once (143, 130), with the --json
document, also as PID 1, also when the handler runs where Python discards what it raises, and
none is ever lost, however busy the loop."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import communicate, tool
from loopback import free_port
from strace_log import connects_after, turns_after


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
    p = subprocess.Popen(
        [tool("wait-for-port"), "-t", "0", f"127.0.0.1:{free_port()}"], stderr=subprocess.PIPE, text=True
    )
    handler_installed(p.pid, sig)
    in_ppoll(p.pid)
    p.send_signal(sig)
    _, err = p.communicate(timeout=10)
    assert p.returncode == code
    assert "Traceback" not in err


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_json_document_on_a_signal(sig, code):
    port = free_port()
    p = subprocess.Popen(
        [tool("wait-for-port"), "--json", "-t", "0", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    handler_installed(p.pid, sig)
    in_ppoll(p.pid)
    p.send_signal(sig)
    out, err = p.communicate(timeout=10)
    assert p.returncode == code, err
    doc = json.loads(out)
    (endpoint,) = doc.pop("endpoints")
    assert doc == {"ready": False, "error": f"ended by {sig.name}"}
    assert endpoint["attempts"] >= 1 and endpoint["last_error"] == "Connection refused" and endpoint["ready"] is False


@pytest.mark.needs("root")  # a PID namespace
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


SIGTERM_IN_A_FINALIZER = """
import gc, os, signal, sys
from snakepack import cli

class Cycle:
    # Collected as cyclic garbage. Once the command's handler is in, it signals its own process
    # and ends on a bytecode boundary, so the handler runs here, inside a finalizer, where Python
    # discards whatever the handler raises (as it does in importlib's weakref callbacks).
    def __del__(self):
        if signal.getsignal(signal.SIGTERM) is not cli._on_signal:
            arm()
            return
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(10))

def arm():
    c = Cycle()
    c.me = c

arm()
gc.set_threshold(1)
sys.exit(cli.wait_for_port_main(sys.argv[1:]))
"""


def test_cli_sigterm_in_a_finalizer_still_ends_the_wait():
    p = subprocess.Popen(
        [sys.executable, "-I", "-c", SIGTERM_IN_A_FINALIZER, "-t", "0", f"127.0.0.1:{free_port()}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = communicate(p, 20, "a SIGTERM handled inside a finalizer was lost: the wait went on")
    assert p.returncode == 143, err
    assert "Traceback" not in err


def signal_runs(endpoints, runs, parallel, max_delay, seed):
    """Starts wait-for-port -t 0 on ENDPOINTS RUNS times, PARALLEL at once, sends each SIGTERM
    after a random delay of up to MAX_DELAY seconds; returns the exit status of each run, None
    for a run that was still waiting 20 s after its signal (the signal was lost)."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(seed)
    delays = [rng.uniform(0, max_delay) for _ in range(runs)]

    def one(delay):
        p = subprocess.Popen(
            [tool("wait-for-port"), "-q", "-t", "0", *endpoints], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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


def test_a_signal_is_seen_between_batches_of_slow_connects(tmp_path):
    log = tmp_path / "strace.log"
    endpoints = [f"127.0.0.1:{free_port()}"] * 6000
    p = subprocess.Popen(
        [
            "strace",
            "-f",
            "-ttt",
            "-qq",
            "-e",
            "trace=connect,ppoll",
            "-o",
            log,
            tool("wait-for-port"),
            "-q",
            "-t",
            "0",
            *endpoints,
        ]
    )
    try:
        while not (log.exists() and "connect(" in log.read_text()):  # until it is connecting
            assert p.poll() is None
            time.sleep(0.01)
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            child = int(f.read().split()[0])
        sent = time.time()  # the clock of strace -ttt
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
    # After the signal was sent, only the rest of the batch under way: the connects of one turn,
    # which a ppoll() ends. Counted from the kill, not from strace's "--- SIGTERM" line: that line
    # comes when the signal is delivered, however late the wait lets that happen.
    log_text = log.read_text()
    assert turns_after(log_text, sent) <= 1, f"{connects_after(log_text, sent)} connects after SIGTERM"
