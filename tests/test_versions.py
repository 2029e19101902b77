"""find-libdeps --check (DT_VERNEED and DT_VERDEF, ext/elf.c; snakepack.libdeps.check): a
library linked here against Debian 13's libc uses strlcpy@GLIBC_2.38; a Debian 12 root (glibc
2.36) cannot load it and --check says so, naming the version; Debian 13's root can."""

from __future__ import annotations

import os
import shutil
import sys

from conftest import CC, run, tool


def test_check_fails_where_glibc_is_too_old(needs_glibc_2_38, debian_root, in_root):
    where = in_root(debian_root, needs_glibc_2_38)
    r = run([tool("find-libdeps"), "--check", "--root", debian_root, where])
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == (
        f"find-libdeps: {where}/libuses.so: libc.so.6 (/lib/x86_64-linux-gnu/libc.so.6): "
        "version GLIBC_2.38 not found; this root has GLIBC_2.36\n"
    )


def test_check_passes_where_the_versions_are_defined(needs_glibc_2_38, trixie_root, in_root):
    where = in_root(trixie_root, needs_glibc_2_38)
    r = run([tool("find-libdeps"), "--check", "--root", trixie_root, where])
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_check_names_a_library_that_does_not_resolve(tmp_path, elf):
    lib = elf.lib(tmp_path / "app/libx.so", needed=["libsnakepack-nowhere.so.3"])
    r = run([tool("find-libdeps"), "--check", tmp_path / "app"])
    assert r.returncode == 1
    assert r.stderr == f"find-libdeps: {lib}: libsnakepack-nowhere.so.3: not found\n"


def test_check_of_a_debian_tree_passes(debian_root):
    # every library of a Debian root loads in that root
    r = run([tool("find-libdeps"), "--check", "--root", debian_root, "/usr/bin", "/usr/lib/x86_64-linux-gnu"])
    assert r.returncode == 0, r.stderr
    assert "version" not in r.stderr


def test_check_ignores_missing_level_and_prints_no_packages(tmp_path, elf):
    elf.lib(tmp_path / "app/libx.so", needed=["libz.so.1"])
    r = run([tool("find-libdeps"), "--check", "--missing", "ignore", tmp_path / "app"])
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_check_and_why_exclude_each_other(tmp_path):
    r = run([tool("find-libdeps"), "--check", "--why", "libc6", tmp_path])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not allowed with argument" in r.stderr


BAR = """
int bar1(void) { return 1; }
#ifdef BAR_2
int bar2(void) { return 2; }
#endif
"""


def test_check_follows_versions_down_the_load_tree(tmp_path):
    # ext.so needs libfoo.so.1, which needs version BAR_2 of libbar.so.1; the libbar.so.1 that
    # lies beside them defines only BAR_1. The real loader refuses it: --check must too.
    build, lib = tmp_path / "build", tmp_path / "lib"
    build.mkdir()
    lib.mkdir()
    (build / "bar.c").write_text(BAR)
    (build / "v2.map").write_text("BAR_1 { global: bar1; local: *; };\nBAR_2 { global: bar2; } BAR_1;\n")
    (build / "v1.map").write_text("BAR_1 { global: bar1; local: *; };\n")
    (build / "foo.c").write_text("int bar2(void);\nint foo(void) { return bar2(); }\n")
    (build / "ext.c").write_text("int foo(void);\nint ext(void) { return foo(); }\n")
    for cmd in (
        [
            CC,
            "-shared",
            "-fPIC",
            "-DBAR_2",
            "-Wl,--version-script",
            build / "v2.map",
            "-Wl,-soname,libbar.so.1",
            "-o",
            build / "libbar.so.1",
            build / "bar.c",
        ],
        [
            CC,
            "-shared",
            "-fPIC",
            "-Wl,-soname,libfoo.so.1",
            "-o",
            lib / "libfoo.so.1",
            build / "foo.c",
            build / "libbar.so.1",
        ],
        [
            CC,
            "-shared",
            "-fPIC",
            "-Wl,--version-script",
            build / "v1.map",
            "-Wl,-soname,libbar.so.1",
            "-o",
            lib / "libbar.so.1",
            build / "bar.c",
        ],
        [CC, "-shared", "-fPIC", "-o", tmp_path / "ext.so", build / "ext.c", lib / "libfoo.so.1"],
    ):
        r = run(cmd)
        assert r.returncode == 0, r.stderr
    loader = run(
        [sys.executable, "-I", "-c", f"import ctypes; ctypes.CDLL({str(tmp_path / 'ext.so')!r})"],
        env={**os.environ, "LD_LIBRARY_PATH": str(lib)},
    )
    assert "version `BAR_2' not found" in loader.stderr  # the judge
    (tmp_path / "only").mkdir()
    shutil.move(tmp_path / "ext.so", tmp_path / "only" / "ext.so")
    r = run([tool("find-libdeps"), "--check", "--ld-library-path", lib, tmp_path / "only"])
    assert r.returncode == 1
    assert r.stderr == (
        f"find-libdeps: {tmp_path}/only/ext.so: libbar.so.1 ({lib}/libbar.so.1) (needed by {lib}/libfoo.so.1): "
        "version BAR_2 not found; this root has BAR_1\n"
    )
