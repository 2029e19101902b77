"""The console scripts and python -m snakepack, run as subprocesses."""

import json
import os
import pty
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from conftest import BIN, run, tool

COMMANDS = ["find-libdeps", "wait-for-port", "apt-install"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command):
    r = run([tool(command), "--help"])
    assert r.returncode == 0
    assert f"usage: {command}" in r.stdout
    assert "example:" in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_version(command):
    r = run([tool(command), "--version"])
    assert r.returncode == 0
    assert r.stdout.startswith(f"{command} (snakepack) ")


@pytest.mark.parametrize("command", COMMANDS)
def test_python_dash_m_runs_the_same_command(command):
    r = run([sys.executable, "-m", "snakepack", command, "--help"])
    assert r.returncode == 0
    assert f"usage: {command}" in r.stdout


def test_python_dash_m_rejects_unknown_command():
    r = run([sys.executable, "-m", "snakepack", "frobnicate"])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown command 'frobnicate'" in r.stderr


def test_pytest_plugin_is_registered():
    eps = entry_points(group="pytest11")
    assert [ep.value for ep in eps if ep.name == "snakepack"] == ["snakepack.pytest_plugin"]


def test_find_libdeps_bad_path_is_one_line_exit_2(tmp_path):
    r = run([tool("find-libdeps"), tmp_path / "nope"])
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "nope" in r.stderr and "No such file or directory" in r.stderr


def test_find_libdeps_bad_option_is_one_line_exit_2():
    r = run([tool("find-libdeps"), "--missing", "maybe"])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--missing" in r.stderr


def test_find_libdeps_bad_root_is_exit_2(tmp_path):
    r = run([tool("find-libdeps"), "--root", tmp_path / "absent", "/"])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "absent" in r.stderr


def test_find_libdeps_defaults_to_sys_prefix():
    # snakepack's own extension lives under sys.prefix and links libelf.
    r = run([tool("find-libdeps")])
    assert r.returncode == 0, r.stderr
    assert "libelf1" in r.stdout.split()
    assert r.stdout.split() == sorted(set(r.stdout.split()))


def test_find_libdeps_missing_error_exits_1(elf, tmp_path):
    elf.lib(tmp_path / "tree" / "a.so", needed=["libsnakepack-absent.so.9"])
    r = run([tool("find-libdeps"), "--missing", "error", tmp_path / "tree"])
    assert r.returncode == 1
    assert "libsnakepack-absent.so.9 needed by" in r.stderr
    r = run([tool("find-libdeps"), "--missing", "ignore", tmp_path / "tree"])
    assert r.returncode == 0 and r.stderr == ""
    r = run([tool("find-libdeps"), tmp_path / "tree"])
    assert r.returncode == 0 and "libsnakepack-absent.so.9" in r.stderr


def test_find_libdeps_json_document(elf, tmp_path):
    elf.lib(tmp_path / "tree" / "a.so", needed=["libc.so.6", "libabsent.so.1"])
    r = run([tool("find-libdeps"), "--json", tmp_path / "tree"])
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [p["name"] for p in doc["packages"]] == ["libc6"]
    (f,) = doc["files"]
    assert f["path"] == str(tmp_path / "tree" / "a.so")
    assert f["needed"] == ["libc.so.6", "libabsent.so.1"]
    libc = next(r for r in f["resolutions"] if r["name"] == "libc.so.6")
    assert libc["how"] == "ld.so.cache" and libc["packages"][0]["name"] == "libc6"
    assert [u["name"] for u in doc["unresolved"]] == ["libabsent.so.1"]


def progress_lines(argv) -> str:
    """Runs ARGV with stderr on a pseudo-terminal; returns what it printed there."""
    pid, fd = pty.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode()


def test_find_libdeps_progress_only_on_a_tty():
    prefix = str(BIN.parent)
    assert "scanning" in progress_lines([tool("find-libdeps"), prefix])
    r = run([tool("find-libdeps"), prefix])
    assert "scanning" not in r.stderr


def test_find_libdeps_into_a_closed_pipe_is_quiet():
    tree = "/usr/lib/python3/dist-packages"
    big = subprocess.run([tool("find-libdeps"), "--json", tree], capture_output=True, text=True)
    if len(big.stdout) < 1 << 20:
        pytest.skip(f"{tree} gives too little JSON to fill a pipe")
    p = subprocess.run(f"{tool('find-libdeps')} --json {tree} | head -c 1", shell=True, capture_output=True, text=True)
    assert p.stderr == ""
