"""A root filesystem as find-libdeps reads it (ext/rootfs.c): every file under --root, loader
configuration and dpkg database included, is resolved inside the root; only regular files are
read, and never without bound. Hostile roots are built by the tests; the kernel's own account
of what was opened comes from strace."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from snakepack import LibdepsError, UsageError, find_libdeps

from conftest import address_space_limit, run, tool, write_status

MARK = "/snakepack-test-analysis-starts-here"


@pytest.fixture(autouse=True, params=["openat2", "user space"])
def resolver(request, monkeypatch):
    """Every test here runs twice: paths resolved by the kernel (openat2 RESOLVE_IN_ROOT) and by
    the component-by-component walk that stands in where it cannot (SNAKEPACK_NO_OPENAT2)."""
    if request.param == "user space":
        monkeypatch.setenv("SNAKEPACK_NO_OPENAT2", "1")
    else:
        monkeypatch.delenv("SNAKEPACK_NO_OPENAT2", raising=False)
    return request.param


def traced_opens(script: str, tmp_path: Path) -> list[str]:
    """Runs SCRIPT in a Python child under strace; returns the paths of every file descriptor
    that open/openat returned after the child opened MARK (everything before is the interpreter
    importing snakepack and the loader mapping libelf)."""
    log = tmp_path / "strace.log"
    code = f"import snakepack._core, snakepack.libdeps\ntry:\n    open({MARK!r})\nexcept OSError:\n    pass\n{script}"
    r = run(["strace", "-f", "-y", "-qq", "-e", "trace=open,openat,openat2", "-o", log, sys.executable, "-c", code])
    assert "Traceback" not in r.stderr or "LibdepsError" in r.stderr, r.stderr
    lines = log.read_text(errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if MARK in line)
    return [m.group(1) for line in lines[start + 1 :] if (m := re.search(r"= \d+<(.*)>$", line))]


def outside(paths: list[str], root: Path) -> list[str]:
    return [p for p in paths if not (p + "/").startswith(f"{root}/")]


def loader_escape_root(elf, tmp_path: Path) -> Path:
    """A root whose loader configuration points at the host's: absolute symlinks and an
    include climbing with "..". Its own files put libz in /opt/zlib."""
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libz.so.1"])
    elf.lib(root / "opt/zlib/libz.so.1", soname="libz.so.1")
    (root / "etc").mkdir()
    (root / "etc/ld.so.cache").symlink_to("/etc/ld.so.cache")
    (root / "etc/ld.so.conf").write_text("include ../../../../../../etc/ld.so.conf.d/*.conf\ninclude /host/*.conf\n")
    (root / "etc/ld.so.conf.d").mkdir()
    (root / "etc/ld.so.conf.d/zlib.conf").write_text("/opt/zlib\n")
    (root / "host").symlink_to("/etc/ld.so.conf.d")
    write_status(root, {"zlib1g": ("amd64", ["/opt/zlib/libz.so.1"])})
    return root


def test_the_kernel_resolves_unless_switched_off(elf, tmp_path, resolver):
    """openat2 is the resolver where the kernel has it, and the switch turns it off, also for
    the Python sources --dlopen reads; either way the same packages come out of a root whose
    configuration points at the host."""
    root = loader_escape_root(elf, tmp_path)
    (root / "app/pkg").mkdir()  # in a subdirectory: the source scanner opens that beneath /app
    (root / "app/pkg/use.py").write_text("import ctypes\nctypes.CDLL('libz.so.1')\n")
    log = tmp_path / "strace.log"
    code = (
        f"import snakepack\nprint(snakepack.find_libdeps('/app', root={str(root)!r}, dlopen='required').package_names)"
    )
    r = run(["strace", "-f", "-qq", "-e", "trace=openat2", "-o", log, sys.executable, "-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["['zlib1g']"]
    calls = log.read_text().count("openat2(")
    assert (calls > 0) == (resolver == "openat2"), calls


def test_loader_configuration_is_read_inside_the_root(elf, tmp_path):
    root = loader_escape_root(elf, tmp_path)
    result = find_libdeps("/app", root=root)
    # etc/ld.so.cache -> /etc/ld.so.cache is itself inside the root: a loop, not the host's cache
    assert any(w.startswith("/etc/ld.so.cache: Too many levels of symbolic links") for w in result.warnings)
    (libz,) = (r for f in result.files for r in f.resolutions)
    assert (libz.how, libz.realpath) == ("ld.so.conf", "/opt/zlib/libz.so.1")
    assert result.package_names == ["zlib1g"]


def test_no_file_outside_the_root_is_opened(elf, tmp_path):
    root = loader_escape_root(elf, tmp_path)
    for d in ("info", "diversions"):  # the dpkg database points at the host's too
        target = root / "var/lib/dpkg" / d
        if target.is_dir():
            for f in target.iterdir():
                f.unlink()
            target.rmdir()
        target.symlink_to(f"/var/lib/dpkg/{d}")
    opened = traced_opens(
        f"from snakepack import find_libdeps\ntry:\n    find_libdeps('/app', root={str(root)!r})\nexcept Exception as e:\n    print(type(e).__name__, e)",
        tmp_path,
    )
    assert any(p.startswith(f"{root}/") for p in opened)  # the trace does see the analysis
    assert outside(opened, root) == []


def test_dpkg_database_symlinked_to_the_host_is_not_read(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libc.so.6"])
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libc.so.6", soname="libc.so.6")
    write_status(root, {"libc6": ("amd64", [])})
    info = root / "var/lib/dpkg/info"
    for f in info.iterdir():
        f.unlink()
    info.rmdir()
    info.symlink_to("/var/lib/dpkg/info")  # the host's libc6.list would claim the library
    with pytest.raises(LibdepsError, match="/var/lib/dpkg/info: Too many levels of symbolic links"):
        find_libdeps("/app", root=root)


# ---- files that are not regular files ---------------------------------------------------------


def hostile(tmp_path: Path, elf, where: str, kind: str) -> Path:
    """A root whose file WHERE is a FIFO or the character device /dev/zero (made inside the
    root with mknod)."""
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libz.so.1"])
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libz.so.1", soname="libz.so.1")
    write_status(root, {"zlib1g": ("amd64", ["/usr/lib/x86_64-linux-gnu/libz.so.1"])})
    (root / "etc").mkdir(exist_ok=True)
    target = root / where.lstrip("/")
    target.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(target)
    else:
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    return root


def cli(args, timeout=60):
    """Runs find-libdeps with a hard limit on its address space: reading /dev/zero until memory
    runs out fails fast instead of eating the machine. A hang fails through the timeout."""
    return subprocess.run(
        [tool("find-libdeps"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=address_space_limit(1 << 30),
        cwd="/",
    )


@pytest.mark.parametrize("kind", ["fifo", pytest.param("device", marks=pytest.mark.needs("root"))])  # mknod
@pytest.mark.parametrize(
    "where, exit_code, message",
    [
        ("/etc/ld.so.cache", 0, "warning: /etc/ld.so.cache: not a regular file; using ld.so.conf instead"),
        ("/etc/ld.so.conf", 0, "warning: /etc/ld.so.conf: not a regular file: ignored"),
        ("/var/lib/dpkg/status", 2, "find-libdeps: /var/lib/dpkg/status: not a regular file"),
        ("/var/lib/dpkg/info/zlib1g.list", 0, "warning: /var/lib/dpkg/info/zlib1g.list: not a regular file: skipped"),
        ("/var/lib/dpkg/diversions", 0, "warning: /var/lib/dpkg/diversions: not a regular file: diversions ignored"),
    ],
)
def test_non_regular_files_under_the_root_are_never_read(elf, tmp_path, where, exit_code, message, kind):
    root = hostile(tmp_path, elf, where, kind)
    r = cli(["--root", root, "/app"])
    assert r.returncode == exit_code, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr


def test_non_regular_file_in_the_scanned_tree_is_skipped_with_a_warning(elf, tmp_path):
    t = tmp_path / "t"
    elf.lib(t / "a.so")
    os.mkfifo(t / "pipe.so")
    r = cli([t])
    assert r.returncode == 0
    assert f"warning: {t}/pipe.so: not a regular file: skipped" in r.stderr


def test_exclude_installed_must_be_a_regular_file(elf, tmp_path):
    elf.lib(tmp_path / "t/a.so", needed=["libc.so.6"])
    r = cli(["--exclude-installed", "/dev/zero", tmp_path / "t"])
    assert r.returncode == 2
    assert r.stderr == "find-libdeps: /dev/zero: not a regular file\n"
    with pytest.raises(UsageError, match="^/dev/zero: not a regular file$"):
        find_libdeps(tmp_path / "t", exclude_installed="/dev/zero")
