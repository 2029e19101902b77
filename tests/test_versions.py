"""find-libdeps --check (DT_VERNEED and DT_VERDEF, ext/elf.c; snakepack.libdeps.check): a
library linked here against Debian 13's libc uses strlcpy@GLIBC_2.38; a Debian 12 root (glibc
2.36) cannot load it and --check says so, naming the version; Debian 13's root can."""

from __future__ import annotations

import shutil
import uuid

import pytest

from conftest import CC, run, tool

USES_STRLCPY = """
#include <stddef.h>
size_t strlcpy(char *, const char *, size_t);
size_t copy8(char *d, const char *s) { return strlcpy(d, s, 8); }
"""


@pytest.fixture
def in_root(tmp_path):
    """Copies files into a fresh directory of a root for one test, and takes it away after."""
    made = []

    def put(root, *files):
        where = root / "opt" / f"check-{uuid.uuid4().hex}"
        where.mkdir(parents=True)
        made.append(where)
        for f in files:
            shutil.copy(f, where)
        return "/" + str(where.relative_to(root))

    yield put
    for where in made:
        shutil.rmtree(where)


@pytest.fixture
def needs_glibc_2_38(tmp_path, trixie_root):
    """A shared object linked against Debian 13's libc.so.6, as a build stage on trixie makes."""
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / "uses.c"
    src.write_text(USES_STRLCPY)
    out = tmp_path / "libuses.so"
    r = run([CC, "-shared", "-fPIC", "-o", out, src, trixie_root / "usr/lib/x86_64-linux-gnu/libc.so.6"])
    assert r.returncode == 0, r.stderr
    return out


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
