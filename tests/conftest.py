"""Shared fixtures: ELF files built by the C compiler at test time, command runners, and the
CI rule that a skipped test is a failed one.

Under scripts/test (SNAKEPACK_STRICT=1) every tool the tests need is installed, so a skip can
only hide a regression: it is reported as a failure, unless the test is marked may_skip(REASON)
and the skip's own reason (a fixture's included) holds REASON: the marker allows one skip, named,
not every skip of the test.

Under the sanitizer run, the pytest process has AddressSanitizer preloaded (LD_PRELOAD) and an
instrumented extension. Children that run snakepack keep that environment; every other child
(the compiler, ldd, dpkg-query, chroot) gets a clean one, so the sanitizer changes nothing they
see.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
CC = shutil.which("cc") or shutil.which("gcc")
BIN = Path(sys.executable).parent
EM_AARCH64 = 183
STRICT = os.environ.get("SNAKEPACK_STRICT") == "1"
SANITIZER_VARIABLES = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PYTHONMALLOC")


# AddressSanitizer maps terabytes of shadow memory up front: no bound on the address space can
# apply in the sanitizer run.
SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")


def address_space_limit(nbytes: int):
    """A preexec_fn bounding a child's address space to NBYTES (None in the sanitizer run)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return None if SANITIZED else limit


def clean_env() -> dict[str, str]:
    """The environment without what the sanitizer run adds."""
    return {k: v for k, v in os.environ.items() if k not in SANITIZER_VARIABLES}


# ---- the documentation's code blocks ----------------------------------------------------------------

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# A fenced block, with the line before it: a marker <!-- run by: TEST --> or <!-- not run: WHY -->.
FENCE = re.compile(
    r"(?:^[ \t]*<!-- (?P<mark>[^\n]*?) -->\n)?^(?P<indent>[ \t]*)```(?P<lang>\S*)\n(?P<body>.*?)^(?P=indent)```$",
    re.M | re.S,
)


def python_commands() -> list[Path]:
    """The commands of scripts/ written in Python (files without an extension, so ruff and the
    entry-point check name them one by one)."""
    return [
        p
        for p in sorted((REPO / "scripts").iterdir())
        if p.is_file() and not p.suffix and p.read_text().startswith("#!/usr/bin/env python3")
    ]


def doc_blocks():
    """Every fenced code block of the README and docs/: (file, language, text, marker or None)."""
    for path in DOCS:
        for m in FENCE.finditer(path.read_text()):
            body = "".join(line[len(m["indent"]) :] + "\n" for line in m["body"].splitlines())
            yield path, m["lang"], body, m["mark"]


def doc_block(test_id: str) -> str:
    """The text of the one code block whose marker says it is run by TEST_ID (FILE::NAME)."""
    found = [body for _, _, body, mark in doc_blocks() if mark == f"run by: {test_id}"]
    assert len(found) == 1, f"{len(found)} blocks are marked as run by {test_id}"
    return found[0]


def runs_snakepack(cmd) -> bool:
    """Whether CMD runs this Python or one of snakepack's commands (also through a shell)."""
    return any(sys.executable in str(c) or f"{BIN}/" in str(c) for c in cmd)


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    """Runs CMD, captures text output, never raises on a non-zero exit."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    # Never the checkout: "python -m" would import the uninstalled sources from there.
    kwargs.setdefault("cwd", "/")
    if not runs_snakepack(cmd):
        kwargs.setdefault("env", clean_env())
    return subprocess.run([str(c) for c in cmd], **kwargs)


def communicate(p: subprocess.Popen, timeout: float, hang: str):
    """p.communicate(); when P is still running after TIMEOUT seconds, kills it and fails the
    test, saying HANG."""
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(hang)


# ---- what a test needs, and the quick tier --------------------------------------------------------

# Beyond a C compiler, the libelf and OpenSSL headers and the test lock, a test may need root
# (debootstrap roots, namespaces, mounts, device nodes, another uid), servers (real database
# servers) or images (image builds, buildx). pytest --quick (scripts/test --quick) runs only the
# tests that need none of them, as any user.
NEEDS = ("root", "servers", "images")
ROOT_FIXTURES = {"debian_root", "trixie_root", "in_root"}


def pytest_addoption(parser):
    tier = parser.getgroup("snakepack tiers")
    tier.addoption("--quick", action="store_true", help="only the tests that need no root, no servers and no images")
    tier.addoption("--needing", action="store_true", help="only the tests that need root, servers or images")


def needs(item) -> set[str]:
    """What ITEM needs of NEEDS: its needs markers', and root for a fixture that makes a root."""
    found = {what for m in item.iter_markers("needs") for what in m.args}
    if ROOT_FIXTURES & set(getattr(item, "fixturenames", ())):
        found.add("root")
    unknown = found - set(NEEDS)
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: needs {', '.join(sorted(unknown))}: not one of {', '.join(NEEDS)}")
    return found


def pytest_collection_modifyitems(config, items):
    if config.getoption("quick") or config.getoption("needing"):
        keep, drop = [], []
        for item in items:
            (keep if bool(needs(item)) == config.getoption("needing") else drop).append(item)
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "may_skip(reason): a skip of this test whose reason holds REASON is expected even in CI"
    )
    config.addinivalue_line("markers", f"needs(what, ...): the test needs one of {', '.join(NEEDS)} (pytest --quick)")
    # A background job of a shell without job control starts with SIGINT ignored, and so would
    # every process a test starts: the tests of what SIGINT does need it delivered.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def allowed_skip(item, reason: str) -> bool:
    """Whether a may_skip marker of ITEM allows a skip for REASON."""
    return any(m.args and m.args[0] in reason for m in item.iter_markers("may_skip"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not allowed_skip(item, reason):
            report.outcome = "failed"
            report.longrepr = f"skipped under scripts/test, which installs what every test needs: {reason}"


def tool(name: str) -> str:
    """Path of a console script installed with snakepack next to this interpreter."""
    return str(BIN / name)


class ElfBuilder:
    """Builds shared objects and programs with the C compiler, with exact dynamic entries.

    Libraries are linked with -nostdlib and only the DT_NEEDED names asked for: each name comes
    from a stub library whose soname is that name, so any name (a path, one with $ORIGIN) can be
    recorded without the real library existing at link time.
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.count = 0

    def _stubs(self, needed, mode: str) -> list[str]:
        args = []
        for name in needed:
            self.count += 1
            stub = self.workdir / f"stub{self.count}" / "libstub.so"
            stub.parent.mkdir(parents=True)
            self._cc(["-shared", "-nostdlib", f"-Wl,-soname,{name}", "-o", stub], "int stub;\n", mode)
            args.append(stub)
        return args

    def _cc(self, args, code: str, mode: str = ""):
        self.count += 1
        src = self.workdir / f"src{self.count}.c"
        src.write_text(code)
        cmd = [CC, "-fPIC", *([mode] if mode else []), src, *args]
        r = run(cmd)
        assert r.returncode == 0, f"{cmd}: {r.stderr}"

    def lib(
        self,
        path,
        *,
        soname: str | None = None,
        needed=(),
        rpath: str | None = None,
        runpath: str | None = None,
        nodeflib: bool = False,
        mode: str = "",  # the compiler's ABI flag: -m32 (i386), -mx32 (x32)
    ) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        args = ["-shared", "-nostdlib", "-Wl,--no-as-needed", "-o", path]
        if soname:
            args.append(f"-Wl,-soname,{soname}")
        if rpath is not None:
            args += ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
        if runpath is not None:
            args += ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
        if nodeflib:
            args.append("-Wl,-z,nodefaultlib")
        args += self._stubs(needed, mode)
        self._cc(args, f"int f{self.count}(void) {{ return {self.count}; }}\n", mode)
        return path

    def program(self, path, *, needed=(), rpath: str | None = None) -> Path:
        """A dynamically linked executable (with PT_INTERP) linked against libc."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        args = ["-Wl,--no-as-needed", "-o", path]
        if rpath is not None:
            args += ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
        args += self._stubs(needed, False)
        self._cc(args, "int main(void) { return 0; }\n")
        return path

    @staticmethod
    def set_machine(path: Path, machine: int) -> Path:
        """Rewrites e_machine of a little-endian ELF file. Used to make a foreign-architecture
        impostor: no cross compiler is installed, and the loader reads only this field to
        reject it, so a compiled file with this one field changed is what it would see."""
        with open(path, "r+b") as f:
            f.seek(18)
            f.write(machine.to_bytes(2, "little"))
        return path


@pytest.fixture
def elf(tmp_path) -> ElfBuilder:
    if CC is None:
        pytest.skip("no C compiler")
    work = tmp_path / ".build"
    work.mkdir()
    return ElfBuilder(work)


def by_name(result, path) -> dict:
    """{needed name: Resolution} of the load tree rooted at PATH."""
    for f in result.files:
        if f.path == str(path):
            return {r.name: r for r in f.resolutions}
    raise AssertionError(f"{path} is not among {[f.path for f in result.files]}")


def write_status(root, packages):
    """A dpkg database under ROOT: {name: (arch, [files])}, each installed, lists named as dpkg
    names them (name:arch.list for Multi-Arch: same, marked by a ':' in the name given)."""
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True, exist_ok=True)
    stanzas = []
    for name, (arch, files) in packages.items():
        bare = name.split(":")[0]
        stanzas.append(f"Package: {bare}\nStatus: install ok installed\nArchitecture: {arch}\nVersion: 1\n")
        (info / f"{name}.list").write_text("".join(f + "\n" for f in files))
    (root / "var/lib/dpkg/status").write_text("\n".join(stanzas))


def unmount_below(path: Path) -> None:
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted(points, reverse=True):
        if point == str(path) or point.startswith(f"{path}/"):
            run(["umount", "-l", point])


def cached_debootstrap(name: str, include=(), release: str = "bookworm") -> Path:
    """A Debian root of RELEASE made with debootstrap (minbase plus INCLUDE), cached between
    runs on this machine under $SNAKEPACK_TEST_CACHE (default /var/cache/snakepack-tests)."""
    cache = Path(os.environ.get("SNAKEPACK_TEST_CACHE", "/var/cache/snakepack-tests"))
    root = cache / name
    if (root / ".complete").exists():
        return root
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("debootstrap needs root and the debootstrap package")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (pytest-xdist workers)
        if (root / ".complete").exists():
            return root
        unmount_below(root)  # an interrupted debootstrap leaves /proc mounted inside
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        extra = [f"--include={','.join(include)}"] if include else []
        r = run(
            ["debootstrap", "--variant=minbase", *extra, release, root, "http://deb.debian.org/debian"], timeout=1500
        )
        if r.returncode != 0:
            pytest.skip(f"debootstrap could not build a root: {r.stdout[-500:]}{r.stderr[-500:]}")
        (root / ".complete").touch()
    return root


@pytest.fixture(scope="session")
def debian_root():
    """A minimal Debian root (debootstrap minbase)."""
    return cached_debootstrap("bookworm-minbase")


def cached_trixie() -> Path:
    """A Debian 13 root: its libc and systemd are newer than bookworm's. It also carries
    docker-buildx, for the bake file's check (tests/test_publishing.py), and Python 3.13, the
    judge of the Python source scanner (tests/test_pysrc_judge.py), so one root serves."""
    return cached_debootstrap("trixie-buildx-python3", include=("docker-buildx", "python3"), release="trixie")


@pytest.fixture(scope="session")
def trixie_root():
    return cached_trixie()


def locked_venv(tmp_path_factory, lock: str) -> Path:
    """A venv with the pins of locks/LOCK-X.Y.txt for this Python, hashes checked."""
    venv = tmp_path_factory.mktemp(lock) / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    r = run([sys.executable, REPO / "scripts/install_locked.py", "--python", venv / "bin/python", lock])
    assert r.returncode == 0, r.stderr
    return venv


@pytest.fixture(scope="session")
def wheels_venv(tmp_path_factory) -> Path:
    """A venv with the manylinux wheels of locks/wheels-X.Y.txt (each bundling libraries)."""
    return locked_venv(tmp_path_factory, "wheels")


USES_STRLCPY = """
#include <stddef.h>
size_t strlcpy(char *, const char *, size_t);
size_t copy8(char *d, const char *s) { return strlcpy(d, s, 8); }
"""


@pytest.fixture
def needs_glibc_2_38(tmp_path, trixie_root):
    """A shared object linked against Debian 13's libc.so.6, as a build stage on trixie makes:
    it uses strlcpy@GLIBC_2.38, which Debian 12's glibc (2.36) lacks."""
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / "uses.c"
    src.write_text(USES_STRLCPY)
    out = tmp_path / "libuses.so"
    r = run([CC, "-shared", "-fPIC", "-o", out, src, trixie_root / "usr/lib/x86_64-linux-gnu/libc.so.6"])
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def in_root(tmp_path):
    """Copies files (and directories, whole) into a fresh directory of a root for one test, and
    takes it away after."""
    made = []

    def put(root, *files):
        where = root / "opt" / f"check-{uuid.uuid4().hex}"
        where.mkdir(parents=True)
        made.append(where)
        for f in map(Path, files):
            if f.is_dir():
                shutil.copytree(f, where / f.name, symlinks=True)
            else:
                shutil.copy(f, where)
        return "/" + str(where.relative_to(root))

    yield put
    for where in made:
        shutil.rmtree(where)


def tree_digest(*paths: Path) -> str:
    """Every name, link target and content under PATHS (which may not exist), hashed."""
    h = hashlib.sha256()
    for top in paths:
        for d, dirs, files in sorted(os.walk(top)):
            for name in sorted(dirs + files):
                p = Path(d) / name
                h.update(str(p).encode())
                h.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes() if p.is_file() else b"/")
    return h.hexdigest()
