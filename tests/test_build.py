"""Building the extension: a missing libelf or OpenSSL header stops the build with one clear
line."""

import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import CC, run

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "header, line",
    [
        ("gelf.h", "snakepack: libelf headers (gelf.h) not found: install the Debian package libelf-dev"),
        (
            "openssl/ssl.h",
            "snakepack: OpenSSL headers (openssl/ssl.h) not found: install the Debian package libssl-dev",
        ),
    ],
)
@pytest.mark.needs("root")  # a mount namespace hides the header
def test_missing_header_names_the_package(tmp_path, header, line):
    path = Path("/usr/include") / header
    if not path.exists() or shutil.which("unshare") is None:
        pytest.skip(f"needs {path} installed and unshare to hide it")
    # A private mount namespace hides the header from this build only.
    script = (
        f"mount --bind /dev/null {path} && "
        f"exec {sys.executable} setup.py -q build_ext --build-lib {tmp_path}/lib --build-temp {tmp_path}/tmp"
    )
    r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=REPO)
    if "unshare failed" in r.stderr or "mount:" in r.stderr:
        pytest.skip(f"cannot make a mount namespace here: {r.stderr.strip()}")
    assert r.returncode != 0
    assert [s for s in r.stderr.splitlines() if s.startswith("snakepack:")] == [line]


def test_sdist_carries_the_sources_and_no_half_test_suite(tmp_path):
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    r = run([sys.executable, "-c", code], cwd=REPO)
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / r.stdout.split()[-1]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = run(
        ["git", "ls-files", "ext", "snakepack", "LICENSE", "README.md", "setup.py", "pyproject.toml"], cwd=REPO
    ).stdout.split()
    assert tracked and set(tracked) <= names
    assert not [n for n in names if n.startswith("tests/")]


HEADERS = sorted(str(p.relative_to(REPO / "ext")) for p in (REPO / "ext").rglob("*.h"))


@pytest.mark.parametrize("header", HEADERS)
def test_each_header_compiles_alone(tmp_path, header):
    """A header includes what it uses, and twice is once (its guard)."""
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / "alone.c"
    src.write_text(f'#include "{header}"\n#include "{header}"\n')
    # as every source compiles (each starts with _GNU_SOURCE); a table header's static data is
    # for its one user: unused here, and no fault of the header
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-unused-const-variable"]
    r = run([CC, *flags, "-fsyntax-only", f"-I{REPO / 'ext'}", src])
    assert r.returncode == 0, r.stderr


def test_the_wings_include_only_the_common_code_and_their_own():
    """ext/libdeps (find-libdeps) and ext/wait (wait-for-port) stand apart: the fuzz harnesses
    build each against one of them; only the bindings (ext/module.c) see both."""
    crossing = []
    for wing, other in (("libdeps", "wait"), ("wait", "libdeps"), ("common", "libdeps"), ("common", "wait")):
        for f in sorted((REPO / "ext" / wing).iterdir()):
            crossing += [
                f"{f.name}: {line}" for line in f.read_text().splitlines() if line.startswith(f'#include "{other}/')
            ]
    assert not crossing
    assert HEADERS and all("/" in h for h in HEADERS)  # no umbrella header at the top


def test_c_sources_are_as_clang_format_writes_them():
    """Every C file of ext/ and fuzz/ follows .clang-format (a reformat is one commit of its own,
    named in .git-blame-ignore-revs)."""
    tool = shutil.which("clang-format")
    if tool is None:
        pytest.skip("clang-format is missing (scripts/test installs it)")
    files = run(["git", "ls-files", "ext/*.c", "ext/*.h", "fuzz/*.c", "fuzz/*.h"], cwd=REPO).stdout.split()
    assert len(files) > 30
    r = run([tool, "--dry-run", "--Werror", *files], cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]


def test_quick_tier_names_a_missing_build_package_in_one_line(tmp_path):
    # a machine without gcc: a PATH that holds only what scripts/test needs before the build
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in ("python3", "dirname"):
        (bin_ / name).symlink_to(shutil.which(name, path="/usr/bin:/bin"))
    r = run(["/bin/bash", REPO / "scripts/test", "--quick"], env={"PATH": str(bin_), "HOME": str(tmp_path)})
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "scripts/test --quick: missing Debian packages: gcc (as root: apt-get install -y gcc)"
    ], r.stderr
