"""The console scripts and python -m snakepack, run as subprocesses."""

import json
import os
import pty
import shutil
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
    # snakepack's own extension lives under sys.prefix and links libelf (libelf1, or libelf1t64
    # on Debian 13: whichever package owns it here).
    import snakepack._core

    ldd = run(["ldd", snakepack._core.__file__]).stdout
    libelf = os.path.realpath(next(line.split()[2] for line in ldd.splitlines() if "libelf" in line))
    owner = run(["dpkg-query", "-S", libelf]).stdout.split(":")[0]
    r = run([tool("find-libdeps")])
    assert r.returncode == 0, r.stderr
    assert owner.startswith("libelf1") and owner in r.stdout.split()
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


def test_find_libdeps_into_a_closed_pipe_is_quiet(elf, tmp_path):
    # 600 copies of a library with a few dependencies: far more JSON than a pipe holds (64 KiB)
    first = elf.lib(tmp_path / "tree/lib0.so", needed=["libc.so.6", "libm.so.6", "libz.so.1", "libabsent.so.1"])
    for i in range(1, 600):
        shutil.copy(first, tmp_path / f"tree/lib{i}.so")
    big = run([tool("find-libdeps"), "--json", "--missing", "ignore", tmp_path / "tree"])
    assert len(big.stdout) > 1 << 20
    p = subprocess.run(
        f"{tool('find-libdeps')} --json --missing ignore {tmp_path / 'tree'} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert p.stderr == "" and p.stdout == "{"


# ---- bad input: one line, exit 2, never a traceback -------------------------------------------


def run_bytes(argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.fsencode(str(a)) if not isinstance(a, bytes) else a for a in argv],
        capture_output=True,
        timeout=120,
        cwd="/",
    )


def test_find_libdeps_non_utf8_path(elf, tmp_path):
    tree = os.path.join(os.fsencode(tmp_path), b"tr\xffee")
    elf.lib(os.fsdecode(tree) + "/a.so", needed=["libc.so.6"])
    os.mkfifo(os.path.join(tree, b"pipe\xfe"))
    r = run_bytes([tool("find-libdeps"), tree])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"libc6\n"
    assert r.stderr == b"find-libdeps: warning: " + tree + b"/pipe\xfe: not a regular file: skipped\n"
    r = run_bytes([tool("find-libdeps"), "--json", tree])
    assert json.loads(r.stdout)["files"][0]["path"] == os.fsdecode(tree) + "/a.so"


def test_find_libdeps_non_utf8_package_name(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libz.so.1"])
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libz.so.1", soname="libz.so.1")
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_bytes(
        b"Package: zlib\xff1g\nStatus: install ok installed\nArchitecture: amd64\n"
    )
    (info / os.fsdecode(b"zlib\xff1g.list")).write_text("/usr/lib/x86_64-linux-gnu/libz.so.1\n")
    r = run_bytes([tool("find-libdeps"), "--root", root, "/app"])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"zlib\xff1g\n", b"")


def test_find_libdeps_long_message_is_not_cut_inside_a_character(tmp_path):
    missing = tmp_path / ("é" * 300)  # the message is longer than the core's 512 bytes
    r = run([tool("find-libdeps"), missing])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"find-libdeps: {tmp_path}/éé") and r.stderr.count("\n") == 1


def test_find_libdeps_empty_path_is_an_error(tmp_path):
    r = run([tool("find-libdeps"), ""], cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "find-libdeps: an empty path names no file (use . for the current directory)\n"


def test_find_libdeps_exclude_installed_missing_names_the_file_once(elf, tmp_path):
    elf.lib(tmp_path / "t/a.so", needed=["libc.so.6"])
    r = run([tool("find-libdeps"), "--exclude-installed", "/nonexistent", tmp_path / "t"])
    assert (r.returncode, r.stderr) == (2, "find-libdeps: /nonexistent: No such file or directory\n")


@pytest.mark.needs("root")  # a mount namespace hides the library
@pytest.mark.parametrize(
    "soname, package", [("libelf.so.1", "libelf1"), ("libssl.so.3", "libssl3"), ("libcrypto.so.3", "libssl3")]
)
def test_find_libdeps_without_a_linked_library_says_which_package_to_install(soname, package):
    import snakepack._core

    ldd = run(["ldd", snakepack._core.__file__]).stdout  # "libelf.so.1 => /path (0x...)"
    path = next(line.split()[2] for line in ldd.splitlines() if line.split()[0] == soname)
    # A private mount namespace hides the library from this one command, as in a slim image.
    script = f"mount --bind /dev/null {path} && exec {tool('find-libdeps')} /usr/bin"
    r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"find-libdeps: cannot load snakepack's C extension: {path}: ")
    assert r.stderr.endswith(f": install the Debian package {package} ({package}t64 on Debian 13 and later)\n")


@pytest.mark.parametrize("stdout, why", [("full", "No space left on device"), ("closed", "stdout is closed")])
@pytest.mark.parametrize("mode", [[], ["--json"]])
def test_find_libdeps_output_that_stdout_cannot_take_is_one_line(elf, tmp_path, stdout, why, mode):
    elf.lib(tmp_path / "tree/a.so", needed=["libc.so.6"])
    wrap = ["sh", "-c", 'exec "$@" >&-', "sh"] if stdout == "closed" else []
    out = os.open("/dev/full", os.O_WRONLY) if stdout == "full" else subprocess.DEVNULL
    try:
        r = run(
            [*wrap, tool("find-libdeps"), *mode, tmp_path / "tree"],
            stdout=out,
            capture_output=False,
            stderr=subprocess.PIPE,
        )
    finally:
        if stdout == "full":
            os.close(out)
    assert (r.returncode, r.stderr) == (1, f"find-libdeps: cannot write the output: {why}\n")


def test_find_libdeps_why_of_no_package_is_a_usage_error(tmp_path):
    r = run([tool("find-libdeps"), "--why", "", tmp_path])
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "find-libdeps: --why needs a package name\n")
