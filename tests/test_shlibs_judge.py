"""find-libdeps --versions judged by the real dpkg-shlibdeps (Debian's dpkg-dev), on this
machine's root: over the ELF files of Debian packages and over a venv of manylinux wheels.

dpkg-shlibdeps needs a debian/control (a minimal one in a temporary directory), reads the host
root only, and names the packages the given files need directly; find-libdeps also lists the
closure. So: every relation dpkg-shlibdeps names must be among find-libdeps' relations, and for
each package it names, find-libdeps' relations on that package must be the same. Packages named
here bring every case: symbols files (libc6, libssl3, ...), alternatives in a symbols file
(libc-bin's private glibc symbols: libc6 (>> 2.36), libc6 (<< 2.37)), shlibs files only
(libbz2-1.0, libdb5.3, libzstd1, libwebp7), shlibs with alternatives (python3-numpy: libblas3 |
libblas.so.3) and with two relations (binutils: libbinutils (>= 2.40), libbinutils (<< 2.40.1))."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from snakepack.libdeps import find_libdeps
from snakepack.shlibs import minimum_versions

from conftest import STRICT, run
from snakepack_tools import elf_files, is_elf

PACKAGES = [
    "bash", "coreutils", "apt", "dpkg", "tar", "util-linux", "procps", "iproute2", "nftables", "openssl",
    "strace", "libc-bin", "libc-dev-bin", "perl-base", "libperl5.36", "ncurses-bin", "libpq5", "postgresql-15",
    "redis-tools", "mariadb-server-core", "podman", "python3-lxml", "python3-pil", "python3-psycopg2",
    "python3-yaml", "python3-numpy", "libmagic1", "libglib2.0-0", "cpp-12", "binutils-x86-64-linux-gnu",
]  # fmt: skip

# Where find-libdeps and dpkg-shlibdeps differ by design, per package: none today. (A library
# found through an RPATH with $ORIGIN, as libclang-cpp14's, differs: outside a package build tree
# dpkg-shlibdeps cannot expand $ORIGIN and finds the library elsewhere. No package above has one.)
DIFFERENCES: dict[str, str] = {}

pytestmark = pytest.mark.skipif(shutil.which("dpkg-shlibdeps") is None, reason="needs dpkg-shlibdeps (dpkg-dev)")


def elf_files_of(package: str) -> list[str]:
    r = run(["dpkg", "-L", package])
    if r.returncode != 0:
        if STRICT:
            pytest.fail(f"{package} is not installed (scripts/test installs it)")
        pytest.skip(f"{package} is not installed")
    files = {os.path.realpath(p) for p in r.stdout.split("\n") if os.path.isfile(p) and not os.path.islink(p)}
    return sorted(p for p in files if is_elf(p))


def dpkg_shlibdeps(tmp_path: Path, files: list[str], private_dirs=()) -> set[str]:
    (tmp_path / "debian").mkdir(exist_ok=True)
    (tmp_path / "debian/control").write_text("Source: judge\n\nPackage: judge\nArchitecture: any\n")
    cmd = ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "--warnings=0"]
    cmd += [f"-l{d}" for d in private_dirs] + [f"-e{f}" for f in files]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("shlibs:Depends=")]
    return set(line.split("=", 1)[1].split(", "))


def ours_for(theirs: set[str], *paths: str) -> set[str]:
    found, warnings = minimum_versions(find_libdeps(*paths, symbols=True, versions=False))
    assert warnings == []
    named = {relation.split()[0] for relation in theirs}
    return {m.depends for m in found if named & set(m.packages)}


@pytest.mark.parametrize("package", PACKAGES)
def test_same_minimum_versions_as_dpkg_shlibdeps(tmp_path, package):
    files = elf_files_of(package)
    assert files, f"{package} ships no ELF file"
    theirs = dpkg_shlibdeps(tmp_path, files)
    if package in DIFFERENCES:
        pytest.xfail(DIFFERENCES[package])
    assert ours_for(theirs, *files) == theirs


def test_the_packages_bring_every_case(tmp_path):
    """The selection above covers what it says it covers (on this machine's versions)."""
    seen: set[str] = set()
    for package in ["libc-bin", "python3-numpy", "binutils-x86-64-linux-gnu"]:
        seen |= dpkg_shlibdeps(tmp_path, elf_files_of(package))
    assert any(r.startswith("libc6 (>> ") for r in seen), seen  # symbols, alternative template
    assert any(" | " in r for r in seen), seen  # shlibs, alternatives
    assert any(r.startswith("libbinutils (<< ") for r in seen), seen  # shlibs, two relations


def test_same_minimum_versions_on_a_venv_of_manylinux_wheels(tmp_path, wheels_venv):
    (site,) = wheels_venv.glob("lib/python3*/site-packages")
    files = elf_files(str(site))
    bundled = sorted(str(d) for d in site.glob("*.libs"))
    assert len(bundled) >= 3, bundled  # numpy.libs, pillow.libs, psycopg2_binary.libs
    theirs = dpkg_shlibdeps(tmp_path, files, bundled)  # -l: the bundled libraries, no package's
    assert ours_for(theirs, str(site)) == theirs
