"""apt-install: its parsing and checks here, and the real apt-get inside an isolated Debian root
(an overlay over a cached debootstrap tree) installing from a repository that this test builds
with dpkg-deb and serves on loopback, with faults injected into the first requests."""

import contextlib
import hashlib
import io
import os
import shutil
import sys
import sysconfig
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import snakepack
from snakepack.apt import cleanup, is_transient, parse_requirements, read_requirements, validate
from snakepack.errors import UsageError

from conftest import CC, cached_debootstrap, run, tool, tree_digest

ARCH = run(["dpkg", "--print-architecture"]).stdout.strip() or "amd64"
TRIPLET = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"

# ---- without apt ------------------------------------------------------------------------------


def test_parse_requirements():
    text = "# packages\nlibc6 zlib1g  # two on a line\n\n  libxml2\n#libfoo\n"
    assert parse_requirements(text) == ["libc6", "zlib1g", "libxml2"]


def test_parse_requirements_reads_relations_as_find_libdeps_versions_writes_them():
    text = "libc6 (>= 2.34)\nlibblas3 | libblas.so.3\nlibbinutils (>= 2.40), libbinutils (<< 2.40.1)\nzlib1g libpq5\n"
    relations = ["libc6 (>= 2.34)", "libblas3 | libblas.so.3", "libbinutils (>= 2.40)", "libbinutils (<< 2.40.1)"]
    assert parse_requirements(text) == [*relations, "zlib1g", "libpq5"]
    assert validate(relations) == relations


@pytest.mark.parametrize(
    "relation", ["libc6 (>= )", "libc6 (~ 2)", "libc6 (>= 2.34", "| libc6", "libc6 |", "libc6 (>= 2) x"]
)
def test_a_relation_that_is_none_is_refused(relation):
    with pytest.raises(UsageError, match="nor a relation"):
        validate([relation])


def test_read_requirements_drops_a_byte_order_mark(tmp_path):
    bom = tmp_path / "pkgdeps.txt"
    bom.write_bytes("\ufefflibc6\nzlib1g\n".encode())
    assert read_requirements(str(bom)) == ["libc6", "zlib1g"]


@pytest.mark.parametrize(
    "name",
    [
        "libc6",
        "libstdc++6",
        "g++",
        "python3.11",
        "libc6:amd64",
        "nginx=1.22.1-9",
        "curl=7.88.1-10+deb12u5",
        "libssl3/bookworm-security",
        "tzdata=2024a-0+deb12u1",
        "foo:i386=1:2.0~rc1",
    ],
)
def test_valid_names(name):
    assert validate([name]) == [name]


@pytest.mark.parametrize(
    "name", ["A", "x", "Bad_Name", "-rf", "foo;rm", "foo bar", "$(id)", "foo=", "foo:", "../x", "foo/"]
)
def test_invalid_names(name):
    with pytest.raises(UsageError, match="is not a Debian package name .* nor a relation"):
        validate([name])


def test_cli_bad_name_is_one_line_exit_2_before_apt_runs():
    r = run([tool("apt-install"), "libc6", "Bad_Name"])
    assert r.returncode == 2
    assert r.stderr == (
        "apt-install: 'Bad_Name' is not a Debian package name (name[:arch][=version|/release]) "
        "nor a relation (name (>= version) | name ...)\n"
    )
    assert r.stdout == ""


def test_cli_nothing_to_install_is_success(tmp_path):
    # `cat empty-pkgdeps.txt | xargs apt-install` runs apt-install without arguments
    empty = tmp_path / "pkgdeps.txt"
    empty.write_text("# nothing\n")
    for args in ([], ["-r", str(empty)]):
        r = run([tool("apt-install"), *args])
        assert r.returncode == 0 and "nothing to install" in r.stderr


def test_cli_unreadable_requirements_file(tmp_path):
    r = run([tool("apt-install"), "-r", tmp_path / "absent.txt"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "absent.txt" in r.stderr


def test_cleanup_keeps_directories_partial_and_lock(tmp_path):
    files = [
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "var/lib/apt/lists/lock",
        "var/lib/apt/lists/partial/x",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/cache/apt/archives/a_1_all.deb",
        "var/cache/apt/archives/lock",
        "var/cache/apt/archives/partial/b.deb",
        "var/log/apt/history.log",
        "var/log/apt/eipp.log.xz",
        "var/log/dpkg.log",
        "var/log/other.log",
        "var/lib/apt/lists/auxfiles/c.deb",
        "var/cache/ldconfig/aux-cache",
    ]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    cleanup(str(tmp_path))
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "var/cache/apt/archives/lock",
        "var/lib/apt/lists/lock",
        "var/lib/apt/lists/partial/x",
        "var/log/other.log",
    ]
    assert (tmp_path / "var/lib/apt/lists/partial").is_dir() and (tmp_path / "var/log/apt").is_dir()


# Outputs of the real apt-get 2.6 (Debian 12), captured from the root and repository below; the
# loopback port is replaced by 8080.
CAPTURED = Path(__file__).parent / "data" / "apt"


@pytest.mark.parametrize(
    "name, transient",
    [
        ("update-503", True),
        ("install-download-503", True),
        ("install-postinst-fails", False),  # its progress says "Need to get 500 kB of archives"
        ("install-unmet", False),
        ("install-unknown", False),
    ],
)
def test_transient_or_permanent_is_read_from_apts_error_lines(name, transient):
    output = (CAPTURED / f"{name}.txt").read_text()
    assert is_transient(output) is transient


# ---- a real apt-get in an isolated root -------------------------------------------------------


class Repo:
    """A flat apt repository served on loopback; FAULTS maps a file name suffix to the HTTP
    error statuses its next requests get before being served normally."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.faults: dict[str, list[str]] = {}
        self.requests: list[str] = []
        repo = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(repo.dir), **kwargs)

            def do_GET(self):
                repo.requests.append(self.path)
                for suffix, answers in repo.faults.items():
                    if self.path.endswith(suffix) and answers:
                        self.send_error(int(answers.pop(0)))
                        return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, suffix: str) -> int:
        return sum(p.endswith(suffix) for p in self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def build_deb(work: Path, out: Path, name: str, extra_control: str = "", arch: str = "all", files=None, control=None):
    """A package NAME 1.0 with usr/share/NAME/hello, and FILES ({path: bytes}) and CONTROL
    files ({name: text}: postinst, symbols, triggers...) when given."""
    pkg = work / name
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: {arch}\nMaintainer: snakepack tests <tests@localhost>\n{extra_control}Description: test package\n"
    )
    (pkg / f"usr/share/{name}").mkdir(parents=True)
    (pkg / f"usr/share/{name}/hello").write_text("hello\n")
    for path, data in (files or {}).items():
        (pkg / path).parent.mkdir(parents=True, exist_ok=True)
        (pkg / path).write_bytes(data)
    for member, text in (control or {}).items():
        (pkg / "DEBIAN" / member).write_text(text)
        if member in ("preinst", "postinst", "prerm", "postrm"):
            (pkg / "DEBIAN" / member).chmod(0o755)
    r = run(["dpkg-deb", "--root-owner-group", "--build", pkg, out / f"{name}_1.0_{arch}.deb"])
    assert r.returncode == 0, r.stderr


def raw_deb(out: Path, name: str, members: list[tuple[str, str, object]]) -> None:
    """A package NAME 1.0 whose data.tar holds MEMBERS exactly as given, (name, kind, value): a
    "file" with bytes, a "link" to a target, a "dir" with (mode, uid). Written with tarfile
    and ar by hand, since dpkg-deb refuses to build some of them."""

    def tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz", format=tarfile.GNU_FORMAT) as t:
            for info, content in entries:
                t.addfile(info, io.BytesIO(content) if content else None)
        return data.getvalue()

    control = tarfile.TarInfo("./control")
    text = (
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@localhost>\nDescription: test\n".encode()
    )
    control.size = len(text)
    entries = []
    for member, kind, value in members:
        info = tarfile.TarInfo(member)
        content = b""
        if kind == "file":
            content = value  # type: ignore[assignment]
            info.size = len(content)
        elif kind == "link":
            info.type, info.linkname = tarfile.SYMTYPE, str(value)
        else:
            info.type, (info.mode, info.uid) = tarfile.DIRTYPE, value  # type: ignore[misc]
        entries.append((info, content))
    parts = [("debian-binary", b"2.0\n"), ("control.tar.gz", tar([(control, text)])), ("data.tar.gz", tar(entries))]
    with open(out / f"{name}_1.0_all.deb", "wb") as f:
        f.write(b"!<arch>\n")
        for part, data in parts:
            f.write(f"{part:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode())
            f.write(data + (b"\n" if len(data) % 2 else b""))


# hostile packages for apt-install --root: (name, members)
HOSTILE = {
    "snakepack-test-evil-link": [("./evil", "link", "/victim")],
    "snakepack-test-evil-relative": [("./evil2", "link", "../../victim2")],
    "snakepack-test-evil-through": [("./evil/", "dir", (0o755, 0)), ("./evil/pwned", "file", b"pwned\n")],
    "snakepack-test-evil-through2": [("./evil2/pwned", "file", b"pwned\n")],
    "snakepack-test-newline": [("./x\n/etc/passwd", "file", b"x\n")],
    "snakepack-test-dotdot": [("./usr/../../escape", "file", b"x\n")],
    "snakepack-test-absolute": [("/abs", "file", b"x\n")],
    "snakepack-test-lib-file": [("./lib", "file", b"not a directory\n")],
    "snakepack-test-etc-tmp": [
        ("./etc/", "dir", (0o700, 1234)),
        ("./tmp/", "dir", (0o755, 0)),
        ("./etc/x", "file", b"x\n"),
    ],
    "snakepack-test-toplevel": [("./toplevel", "file", b"x\n")],
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    if shutil.which("dpkg-deb") is None or shutil.which("dpkg-scanpackages") is None:
        pytest.skip("needs dpkg-deb and dpkg-scanpackages (dpkg-dev)")
    work = tmp_path_factory.mktemp("debs")
    out = tmp_path_factory.mktemp("repo")
    build_deb(work, out, "snakepack-test-pkg")
    build_deb(work, out, "snakepack-test-conflict", "Conflicts: snakepack-test-pkg\n")
    # names shaped like g++, zlib1g and zlib1g-dev: a name with "+" in it, one that others extend
    for name in ("snakepack-test-g++", "snakepack-test-lib1", "snakepack-test-lib1-dev"):
        build_deb(work, out, name)
    # for apt-install --root: a package that depends on another, one with a postinst, and a
    # Multi-Arch: same library with its symbols file and ldconfig trigger
    build_deb(work, out, "snakepack-test-app", "Depends: snakepack-test-lib1\n")
    build_deb(work, out, "snakepack-test-scripted", control={"postinst": "#!/bin/sh\necho configured\n"})
    for name, members in HOSTILE.items():
        raw_deb(out, name, members)
    if CC is not None:
        src = work / "foo.c"
        src.write_text("int foo(void) { return 1; }\n")
        lib = work / "libfoo.so.1"
        assert run([CC, "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", "-o", lib, src]).returncode == 0
        build_deb(
            work,
            out,
            "snakepack-test-libfoo1",
            "Multi-Arch: same\n",
            arch=ARCH,
            files={f"usr/lib/{TRIPLET}/libfoo.so.1": lib.read_bytes()},
            control={
                "symbols": "libfoo.so.1 snakepack-test-libfoo1 #MINVER#\n foo@Base 1.0~rc1\n",
                "triggers": "activate-noawait ldconfig\n",
            },
        )
    packages = run(["dpkg-scanpackages", "--multiversion", "."], cwd=out)
    assert packages.returncode == 0, packages.stderr
    (out / "Packages").write_text(packages.stdout)
    data = (out / "Packages").read_bytes()
    (out / "Release").write_text(
        f"Origin: snakepack-tests\nSuite: tests\nSHA256:\n {hashlib.sha256(data).hexdigest()} {len(data)} Packages\n"
    )
    server = Repo(out)
    yield server
    server.close()


@contextlib.contextmanager
def overlay_root(tmp_path, sources: str | None, release: str = "bookworm"):
    """An overlay of a cached Debian root of RELEASE with Python, snakepack copied in, and apt
    pointed at SOURCES (a sources.list line; None: the root's own, Debian's mirror).
    apt-install is pure Python: the C extension, built for the Python running the tests, is
    left out, and the root's own Python runs the rest."""
    if release == "bookworm":
        lower = cached_debootstrap("bookworm-python", include=("python3", "libelf1"))
    else:
        lower = cached_debootstrap(f"{release}-python", include=("python3",), release=release)
    upper, work, merged = (tmp_path / d for d in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    r = run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", merged])
    if r.returncode != 0:
        pytest.skip(f"cannot mount an overlay here: {r.stderr.strip()}")
    try:
        python = next(merged.glob("usr/lib/python3.*/os.py")).parent.name  # the root's python3.X
        site = merged / f"usr/local/lib/{python}/dist-packages"
        site.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            Path(snakepack.__file__).parent,
            site / "snakepack",
            ignore=shutil.ignore_patterns("__pycache__", "_core*.so"),
        )
        if sources is not None:
            for f in (merged / "etc/apt/sources.list.d").glob("*"):
                f.unlink()
            (merged / "etc/apt/sources.list").write_text(sources)
        yield merged
    finally:
        run(["umount", "-l", merged])


@pytest.fixture
def root(tmp_path, repo):
    """A Debian root whose apt reads the test repository only."""
    with overlay_root(tmp_path, f"deb [trusted=yes] {repo.url} ./\n") as merged:
        repo.requests.clear()
        repo.faults.clear()
        yield merged


def apt_install(root, *args, **kwargs):
    return run(
        ["chroot", root, "python3", "-m", "snakepack", "apt-install", "--retry-delay", "0.1", *args],
        timeout=600,
        **kwargs,
    )


def assert_clean(root):
    lists = sorted(p.name for p in (root / "var/lib/apt/lists").iterdir())
    assert set(lists) <= {"partial", "lock"}, lists
    assert not list((root / "var/cache/apt").glob("*.bin"))
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    assert not [p for p in (root / "var/log/apt").iterdir()]
    assert not (root / "var/log/dpkg.log").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_installs_and_leaves_no_lists_or_caches(root, repo):
    r = apt_install(root, "snakepack-test-pkg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "usr/share/snakepack-test-pkg/hello").read_text() == "hello\n"
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_requirements_files_and_stdin(root, repo, tmp_path):
    (root / "pkgdeps.txt").write_text("# from find-libdeps\nsnakepack-test-pkg\n")
    r = apt_install(root, "-r", "/pkgdeps.txt", "-r", "-", input="\n# nothing more\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "usr/share/snakepack-test-pkg/hello").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_transient_update_failures_are_retried(root, repo):
    repo.faults = {"Release": ["503", "502"]}
    r = apt_install(root, "snakepack-test-pkg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.count("apt-get update failed") == 2 and "retrying" in r.stderr
    assert (root / "usr/share/snakepack-test-pkg/hello").exists()
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_transient_download_failure_is_retried(root, repo):
    repo.faults = {".deb": ["503"]}
    r = apt_install(root, "snakepack-test-pkg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "apt-get install failed" in r.stderr and repo.count(".deb") == 2
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_gives_up_after_the_retries_and_still_cleans_up(root, repo):
    repo.faults = {"Release": ["503"] * 20}
    r = apt_install(root, "--retries", "2", "snakepack-test-pkg")
    assert r.returncode == 100
    assert r.stderr.splitlines()[-1].startswith("apt-install: apt-get update failed (exit 100): E: Failed to fetch")
    assert r.stderr.count("retrying") == 2
    assert not (root / "usr/share/snakepack-test-pkg").exists()
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_unknown_package_fails_at_once_naming_it(root, repo):
    r = apt_install(root, "snakepack-test-pkg", "snakepack-no-such-package")
    assert r.returncode == 100
    assert (
        r.stderr.splitlines()[-1]
        == "apt-install: snakepack-no-such-package: no package has this exact name (apt's lists have no package of that name)"
    )
    assert "retrying" not in r.stderr
    assert repo.count("Packages") == 1  # one update, no retry
    assert not installed(root, "snakepack-test-pkg")  # nothing installed
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_conflict_fails_at_once(root, repo):
    r = apt_install(root, "snakepack-test-pkg", "snakepack-test-conflict")
    assert r.returncode == 100
    assert "retrying" not in r.stderr
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_bad_name_runs_nothing(root, repo):
    r = apt_install(root, "snakepack-test-pkg", "rm -rf /")
    assert r.returncode == 2
    assert repo.requests == []


def state(root) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file where apt keeps lists, caches and logs."""
    found = {}
    for top in ("var/lib/apt", "var/cache/apt", "var/log"):
        for p in (root / top).rglob("*"):
            if p.is_file():
                st = p.stat()
                found[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def apt_get(root, *args):
    env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return run(["chroot", root, "apt-get", "-o", "Acquire::Retries=0", *args], env=env, timeout=600)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_dry_run_changes_nothing(root, repo):
    assert apt_get(root, "update").returncode == 0  # lists and caches as a used machine has them
    (root / "var/log/dpkg.log").write_text("an earlier install\n")
    before = state(root)
    assert any(k.startswith("var/lib/apt/lists/") for k in before)
    r = apt_install(root, "--dry-run", "snakepack-test-pkg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "apt-install: would install: snakepack-test-pkg" in r.stdout
    assert not (root / "usr/share/snakepack-test-pkg").exists()
    assert state(root) == before
    assert apt_get(root, "install", "-s", "snakepack-test-pkg").returncode == 0  # still a candidate


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_dry_run_without_lists_reads_its_own_and_leaves_none(root, repo):
    cleanup(str(root))  # as in an image: no lists at all
    before = state(root)
    r = apt_install(root, "--dry-run", "snakepack-test-pkg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "apt-install: would install: snakepack-test-pkg" in r.stdout
    assert state(root) == before
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_install_returns_the_packages_it_installed(root, repo):
    code = "from snakepack.apt import install; print(install(['snakepack-test-pkg'], retry_delay=0.1))"
    r = run(["chroot", root, "python3", "-c", code], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "['snakepack-test-pkg']"
    assert_clean(root)


def installed(root, name: str) -> bool:
    return (root / f"usr/share/{name}/hello").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
@pytest.mark.parametrize(
    "args, status, message",
    [
        (["snakepack-test-g++"], 0, None),  # a "+" that is part of a real name
        (["snakepack-test-lib1:all"], 0, None),
        (["snakepack-test-lib1=1.0"], 0, None),
        (["snakepack-test-lib1/tests"], 0, None),  # the repository's suite
        (
            ["snakepack-test-pkg-"],
            100,
            "snakepack-test-pkg-: no package has this exact name (apt-get would read it as: remove snakepack-test-pkg)",
        ),
        (
            ["--dry-run", "snakepack-test-pkg-"],
            100,
            "snakepack-test-pkg-: no package has this exact name (apt-get would read it as: remove snakepack-test-pkg)",
        ),
        (
            ["snakepack-test-lib1."],
            100,
            "snakepack-test-lib1.: no package has this exact name (apt-get would read it as a pattern and install whatever it matches)",
        ),
        (
            ["snakepack-test-lib1.:all"],
            100,
            "snakepack-test-lib1.:all: no package has this exact name (apt-get would read it as a pattern and install whatever it matches)",
        ),
        (
            ["snakepack-test-conflict"],
            100,
            "apt-get install failed (exit 100): E: Packages need to be removed but remove is disabled.",
        ),
        (
            ["--dry-run", "snakepack-test-conflict"],
            100,
            "apt-get install failed (exit 100): E: Packages need to be removed but remove is disabled.",
        ),
    ],
    ids=[
        "plus",
        "arch",
        "version",
        "release",
        "remove",
        "dry-run-remove",
        "pattern",
        "pattern-arch",
        "conflict",
        "dry-run-conflict",
    ],
)
def test_a_name_never_removes_a_package_nor_stands_for_others(root, repo, args, status, message):
    assert apt_install(root, "snakepack-test-pkg").returncode == 0  # installed first: what a name might remove
    r = apt_install(root, *args)
    assert r.returncode == status, r.stdout + r.stderr
    if message:
        assert r.stderr.splitlines()[-1] == f"apt-install: {message}", r.stderr
    assert installed(root, "snakepack-test-pkg")  # never removed
    assert not installed(root, "snakepack-test-lib1-dev")  # never matched by a pattern
    if status == 0:
        assert installed(root, args[0].split(":")[0].split("=")[0].split("/")[0])
    assert_clean(root)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
@pytest.mark.parametrize(
    "args, env",
    [(["--retry-delay", "nan"], {}), (["--retry-delay", "inf"], {}), ([], {"APT_INSTALL_RETRY_DELAY": "nan"})],
    ids=["nan", "inf", "env-nan"],
)
def test_a_retry_delay_that_is_no_duration_is_refused_before_apt_runs(root, repo, args, env):
    r = run(
        [
            "chroot",
            root,
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            "python3",
            "-m",
            "snakepack",
            "apt-install",
            *args,
            "snakepack-test-pkg",
        ],
        timeout=600,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == "apt-install: --retries and --retry-delay must be numbers, 0 or more\n"
    assert repo.requests == []


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_relations_install_the_first_alternative_the_target_satisfies(root, repo):
    r = apt_install(root, "snakepack-test-pkg (>= 1.0)", "snakepack-no-such-package (>= 1) | snakepack-test-lib1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "usr/share/snakepack-test-pkg/hello").exists()
    assert (root / "usr/share/snakepack-test-lib1/hello").exists()
    assert not (root / "usr/share/snakepack-no-such-package").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_a_builder_of_a_newer_release_is_caught_before_anything_is_installed(
    root, repo, trixie_root, in_root, needs_glibc_2_38
):
    """find-libdeps --versions in a Debian 13 build stage, apt-install -r in a Debian 12 target:
    the library needs glibc 2.38, the target has 2.36."""
    where = in_root(trixie_root, needs_glibc_2_38)
    r = run([tool("find-libdeps"), "--versions", "--root", trixie_root, where])
    assert r.returncode == 0 and "libc6 (>= 2.38)\n" in r.stdout, r.stdout + r.stderr
    (root / "pkgdeps.txt").write_text(r.stdout + "snakepack-test-pkg\n")
    offered = run(["dpkg-query", "--admindir", root / "var/lib/dpkg", "-W", "-f=${Version}", "libc6"]).stdout
    r = apt_install(root, "-r", "/pkgdeps.txt")
    assert r.returncode == 100, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == f"apt-install: libc6 (>= 2.38): the target offers libc6 {offered}"
    assert not (root / "usr/share/snakepack-test-pkg").exists()
    assert_clean(root)
    r = apt_install(root, "--dry-run", "libc6 (>= 2.36)", "snakepack-test-pkg")  # what it has is enough
    assert r.returncode == 0 and "would install: snakepack-test-pkg" in r.stdout, r.stdout + r.stderr


# ---- apt-install --root ---------------------------------------------------------------------------


def dpkg_checks(target: Path) -> None:
    """The real dpkg's audit and verify of TARGET's database: every package recorded whole, and
    every file's md5sum what the package shipped."""
    for check in ("--audit", "--verify"):
        r = run(["dpkg", f"--root={target}", check])
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), check


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_installs_the_closure_into_another_root_as_dpkg_records_it(root, repo):
    target = root / "target"
    target.mkdir()
    r = apt_install(root, "--root", "/target", "snakepack-test-app")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("snakepack-test-app", "snakepack-test-lib1"):  # and its Depends
        assert (target / f"usr/share/{name}/hello").read_text() == "hello\n"
        assert not (root / f"usr/share/{name}").exists()  # the host is untouched
    q = run(["dpkg-query", "--admindir", target / "var/lib/dpkg", "-W", "-f=${Package} ${Version} ${Status}\n"])
    assert q.stdout.splitlines() == [
        "snakepack-test-app 1.0 install ok installed",
        "snakepack-test-lib1 1.0 install ok installed",
    ]
    assert run(["dpkg-query", "--admindir", root / "var/lib/dpkg", "-W", "snakepack-test-app"]).returncode == 1
    dpkg_checks(target)
    assert_clean(root)
    # what the root has is not fetched again
    r = apt_install(root, "--root", "/target", "--dry-run", "snakepack-test-app", "snakepack-test-g++")
    assert r.returncode == 0 and "would install: snakepack-test-g++\n" in r.stdout, r.stdout + r.stderr
    # a dry run into a root without a database writes none
    (root / "empty").mkdir()
    r = apt_install(root, "--root", "/empty", "--dry-run", "snakepack-test-app")
    assert r.returncode == 0 and "would install: snakepack-test-lib1 snakepack-test-app\n" in r.stdout, r.stdout
    assert list((root / "empty").iterdir()) == []


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_refuses_maintainer_scripts_by_name_and_installs_nothing(root, repo):
    (root / "target").mkdir()
    r = apt_install(root, "--root", "/target", "snakepack-test-pkg", "snakepack-test-scripted")
    assert r.returncode == 100, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == (
        "apt-install: snakepack-test-scripted: has postinst, which apt-install --root does not run "
        "(nothing was installed into /target)"
    )
    assert not (root / "target/usr").exists()
    assert (root / "target/var/lib/dpkg/status").read_text() == ""
    assert_clean(root)


@contextlib.contextmanager
def host_unchanged(root: Path):
    """Asserts that the host of the test (the overlay ROOT apt-install runs in) keeps its dpkg
    database and has no /victim, /victim2, /escape, /abs or /toplevel."""
    before = tree_digest(root / "var/lib/dpkg")
    yield
    assert tree_digest(root / "var/lib/dpkg") == before
    for name in ("victim", "victim2", "escape", "abs", "toplevel", "evil", "evil2"):
        assert not os.path.lexists(root / name), name


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_never_writes_through_a_symlink_that_leaves_it(root, repo):
    (root / "target").mkdir()
    (root / "target/usr").symlink_to("/usr")  # absolute: the target's own /usr, a loop
    with host_unchanged(root):
        r = apt_install(root, "--root", "/target", "snakepack-test-pkg")
    assert r.returncode == 100, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == (
        "apt-install: snakepack-test-pkg: ships a directory /usr where /target has a symlink (nothing was installed)"
    )
    assert not (root / "usr/share/snakepack-test-pkg").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
@pytest.mark.parametrize("link", ["evil-link", "evil-relative"])
@pytest.mark.parametrize("there", [True, False], ids=["target-has-it", "target-lacks-it"])
def test_root_confines_a_link_an_earlier_package_of_the_batch_ships(root, repo, link, there):
    """A ships /evil -> /victim (or ../../victim2), B ships /evil/pwned: B's file goes into the
    target's /victim where the target has one, and nowhere where it has none."""
    target = root / "target"
    victim = "victim" if link == "evil-link" else "victim2"
    (target / victim).mkdir(parents=True) if there else target.mkdir()
    through = "evil-through" if link == "evil-link" else "evil-through2"
    with host_unchanged(root):
        r = apt_install(root, "--root", "/target", f"snakepack-test-{link}", f"snakepack-test-{through}")
    if there:
        assert r.returncode == 0, r.stdout + r.stderr
        assert (target / victim / "pwned").read_text() == "pwned\n"
        # (not dpkg --verify: dpkg --root follows the link /evil on the host, and finds no /victim)
        q = run(["dpkg-query", "--admindir", target / "var/lib/dpkg", "-W", "-f=${Package} ${Status}\n"])
        assert q.stdout.splitlines() == [f"snakepack-test-{x} install ok installed" for x in (link, through)]
    else:
        assert r.returncode == 2, r.stdout + r.stderr
        evil = "/evil" if link == "evil-link" else "/evil2"
        assert r.stderr.splitlines()[-1] in (
            f"apt-install: snakepack-test-{through}: ships the directory {evil} where there is a symlink",
            f"apt-install: --root /target: {evil}: Not a directory",
        )
        assert not (target / victim).exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
@pytest.mark.parametrize(
    "package, message",
    [
        ("newline", "the member './x\\n/etc/passwd' holds a newline in its name"),
        ("dotdot", "the member './usr/../../escape' holds '..'"),
        ("absolute", "the member '/abs' is an absolute path"),
        ("lib-file", "ships a file /lib where /target has a directory symlink"),
    ],
)
def test_root_refuses_what_dpkg_refuses_before_anything_is_written(root, repo, package, message):
    target = root / "target"
    (target / "usr/lib").mkdir(parents=True)
    (target / "lib").symlink_to("usr/lib")
    (target / "etc").mkdir()
    (target / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    before = tree_digest(target)
    with host_unchanged(root):
        r = apt_install(root, "--root", "/target", f"snakepack-test-{package}")
    assert r.returncode == 100, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == f"apt-install: snakepack-test-{package}: {message} (nothing was installed)"
    (target / "var/lib/dpkg/status").unlink()  # the empty database it made before apt ran
    (target / "var/lib/dpkg/info/format").unlink()
    for d in ("var/lib/dpkg/info", "var/lib/dpkg", "var/lib", "var"):
        (target / d).rmdir()
    assert tree_digest(target) == before


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_keeps_its_directories_owner_and_mode(root, repo):
    target = root / "target"
    (target / "etc").mkdir(parents=True, mode=0o755)
    (target / "tmp").mkdir()
    (target / "tmp").chmod(0o1777)
    with host_unchanged(root):
        r = apt_install(root, "--root", "/target", "snakepack-test-etc-tmp")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "etc/x").read_text() == "x\n"
    etc, tmp = (target / "etc").stat(), (target / "tmp").stat()
    assert (etc.st_mode & 0o7777, etc.st_uid) == (0o755, 0)
    assert (tmp.st_mode & 0o7777, tmp.st_uid) == (0o1777, 0)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
@pytest.mark.parametrize("how", ["/", "a link to /"])
def test_root_refuses_the_system_itself(root, repo, how):
    if how != "/":
        (root / "srv/system").symlink_to("/")
    with host_unchanged(root):
        r = apt_install(root, "--root", "/" if how == "/" else "/srv/system", "snakepack-test-toplevel")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        f"apt-install: --root {'/' if how == '/' else '/srv/system'}: that is this system's own root; "
        "apt-install without --root installs there"
    ]


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, a bind mount
def test_root_refuses_a_root_whose_dpkg_database_is_the_systems(root, repo):
    target = root / "target"
    (target / "var/lib/dpkg").mkdir(parents=True)
    assert run(["mount", "--bind", root / "var/lib/dpkg", target / "var/lib/dpkg"]).returncode == 0
    try:
        with host_unchanged(root):
            r = apt_install(root, "--root", "/target", "snakepack-test-toplevel")
    finally:
        run(["umount", target / "var/lib/dpkg"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        "apt-install: --root /target: its dpkg database /var/lib/dpkg is this system's own"
    ]


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_never_records_into_the_systems_database_through_a_link(root, repo):
    target = root / "target"
    target.mkdir()
    (target / "var").symlink_to("/var")  # the target's own /var: a loop, never the system's
    with host_unchanged(root):
        r = apt_install(root, "--root", "/target", "snakepack-test-toplevel")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines() == ["apt-install: --root /target: /var: Not a directory"]
    assert not (target / "toplevel").exists()


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root
def test_root_records_what_find_libdeps_reads(root, repo, tmp_path):
    """A library installed with --root is found, owned and versioned by find-libdeps --root."""
    if CC is None:
        pytest.skip("no C compiler")
    target = root / "target"
    (target / "var/cache/ldconfig").mkdir(parents=True)  # where ldconfig keeps its aux-cache
    r = apt_install(root, "--root", "/target", "snakepack-test-libfoo1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "etc/ld.so.cache").exists()  # ldconfig -r, the trigger's effect
    assert not (target / "var/cache/ldconfig/aux-cache").exists()  # differs between two builds
    src = tmp_path / "mod.c"
    src.write_text("int foo(void);\nint f(void) { return foo(); }\n")
    (target / "app").mkdir()
    lib = target / f"usr/lib/{TRIPLET}/libfoo.so.1"
    assert run([CC, "-shared", "-fPIC", "-nostdlib", "-o", target / "app/mod.so", src, lib]).returncode == 0
    r = run([tool("find-libdeps"), "--versions", "--root", target, "/app"])
    assert (r.returncode, r.stdout) == (0, "snakepack-test-libfoo1 (>= 1.0~rc1)\n"), r.stderr
    assert (target / f"var/lib/dpkg/info/snakepack-test-libfoo1:{ARCH}.list").exists()  # Multi-Arch: same
    dpkg_checks(target)


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, from Debian's mirror
def test_root_installs_real_packages_that_load(tmp_path):
    """libpq5 and its closure from Debian's mirror into an empty root: dpkg's audit and verify
    pass, and find-libdeps --check proves libpq loads there."""
    with overlay_root(tmp_path, None) as merged:
        target = merged / "target"
        target.mkdir()
        r = apt_install(merged, "--root", "/target", "libpq5")
        assert r.returncode == 0, r.stdout + r.stderr
        dpkg_checks(target)
        installed = run(["dpkg-query", "--admindir", target / "var/lib/dpkg", "-W", "-f=${Package}\n"]).stdout.split()
        assert {"libpq5", "libc6", "libssl3", "libgssapi-krb5-2"} <= set(installed)
        r = run([tool("find-libdeps"), "--check", "--root", target, f"/usr/lib/{TRIPLET}/libpq.so.5"])
        assert (r.returncode, r.stderr) == (0, "")
        assert_clean(merged)


# the path filters of Debian's slim images (debuerreotype's), in the order they come there
SLIM_FILTERS = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, from Debian's mirror
def test_root_leaves_out_what_dpkg_path_filters_exclude_as_dpkg_does(tmp_path):
    """A root whose dpkg configuration excludes documentation, manual pages and translations:
    libpq5 (which ships all three, and a copyright) installed there leaves out and lists what
    the real dpkg, with the same filters, leaves out and lists in the overlay's own root."""
    with overlay_root(tmp_path, None) as merged:
        target = merged / "target"
        for root in (target, merged):
            (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/dpkg/dpkg.cfg.d/slim").write_text(SLIM_FILTERS)
        r = apt_install(merged, "--root", "/target", "libpq5")
        assert r.returncode == 0, r.stdout + r.stderr
        r = apt_install(merged, "libpq5")  # the judge: dpkg, reading the same filters
        assert r.returncode == 0, r.stdout + r.stderr
        paths = sorted((merged / f"var/lib/dpkg/info/libpq5:{ARCH}.list").read_text().splitlines())
        assert sorted((target / f"var/lib/dpkg/info/libpq5:{ARCH}.list").read_text().splitlines()) == paths
        assert any("/usr/share/locale/" in p for p in paths) and any("/usr/share/doc/libpq5/" in p for p in paths)

        def present(root):  # files: the overlay's root has directories of other packages
            return [p for p in paths if os.path.lexists(str(root) + p) and not os.path.isdir(str(root) + p)]

        assert present(target) == present(merged)
        assert (target / "usr/share/doc/libpq5/copyright").exists()
        assert not (target / "usr/share/doc/libpq5/changelog.Debian.gz").exists()
        assert not list((target / "usr/share/locale").rglob("*.mo"))


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, from Debian's mirror
def test_root_does_what_the_scripts_of_base_passwd_tzdata_and_ca_certificates_do(tmp_path):
    """base-passwd, tzdata and ca-certificates from Debian's mirror into an empty root, none of
    their scripts run: its accounts are what base-passwd's preinst writes into an empty root
    (DPKG_ROOT), its time zone and certificates what dpkg, running the scripts, made of the
    same packages in the overlay's own root (ca-certificates installed there by apt-install),
    and Python's ssl module trusts every certificate of the bundle."""
    with overlay_root(tmp_path, None) as merged:
        target = merged / "target"
        target.mkdir()
        # an administrator's own certificate, which update-ca-certificates adds after Debian's
        key, cert = tmp_path / "key.pem", tmp_path / "local.crt"
        r = run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            + ["-days", "1", "-subj", "/CN=snakepack test CA", "-keyout", key, "-out", cert]
        )
        assert r.returncode == 0, r.stderr
        for where in (target, merged):
            (where / "usr/local/share/ca-certificates").mkdir(parents=True)
            shutil.copy(cert, where / "usr/local/share/ca-certificates/snakepack-test.crt")
        r = apt_install(merged, "--root", "/target", "base-passwd", "tzdata", "ca-certificates")
        assert r.returncode == 0, r.stdout + r.stderr
        dpkg_checks(target)
        r = apt_install(merged, "ca-certificates")  # the judge: dpkg runs its scripts
        assert r.returncode == 0, r.stdout + r.stderr
        # base-passwd's own preinst, run against an empty root as dpkg would with --root
        scratch = tmp_path / "scratch"
        (scratch / "etc").mkdir(parents=True)
        preinst = target / "var/lib/dpkg/info/base-passwd.preinst"
        r = run(["sh", preinst, "install"], env={**os.environ, "DPKG_ROOT": str(scratch)})
        assert r.returncode == 0, r.stderr
        for name in ("etc/passwd", "etc/group"):
            assert (target / name).read_text() == (scratch / name).read_text(), name
        assert os.readlink(target / "etc/localtime") == os.readlink(merged / "etc/localtime")
        assert (target / "etc/ssl/certs/ca-certificates.crt").read_bytes() == (
            merged / "etc/ssl/certs/ca-certificates.crt"
        ).read_bytes()
        certs = {p.name: os.readlink(p) for p in (merged / "etc/ssl/certs").iterdir() if p.is_symlink()}
        assert {p.name: os.readlink(p) for p in (target / "etc/ssl/certs").iterdir() if p.is_symlink()} == certs
        assert len(certs) > 200  # a .pem and a hash link for each of 100 and more authorities

        def trusted(conf):
            return [x for x in conf.read_text().splitlines() if x and x[0] not in "#!"]

        assert trusted(target / "etc/ca-certificates.conf") == trusted(merged / "etc/ca-certificates.conf")
        code = f"import ssl; c = ssl.create_default_context(cafile={str(target / 'etc/ssl/certs/ca-certificates.crt')!r}); print(len(c.get_ca_certs()))"
        r = run([sys.executable, "-c", code])
        assert r.returncode == 0 and int(r.stdout) == len(trusted(target / "etc/ca-certificates.conf")) + 1, r.stderr
        assert (
            os.readlink(target / "etc/ssl/certs/snakepack-test.pem")
            == "/usr/local/share/ca-certificates/snakepack-test.crt"
        )


@contextlib.contextmanager
def installed_into_an_empty_root(tmp_path, release: str, *packages: str):
    """An overlay of a cached root of RELEASE, and in it /target, an empty directory into which
    apt-install --root installed PACKAGES from Debian's mirror (dpkg's audit and verify pass
    there): (the overlay, /target)."""
    with overlay_root(tmp_path, None, release) as merged:
        target = merged / "target"
        target.mkdir()
        r = apt_install(merged, "--root", "/target", *packages)
        assert r.returncode == 0, r.stdout + r.stderr
        dpkg_checks(target)
        yield merged, target


# The Python of Debian 13 that its -min images carry, and what comes with it
TRIXIE_PYTHON = "python3.13"
MIN_PACKAGES = (TRIXIE_PYTHON, "ca-certificates", "tzdata", "base-passwd", "libc-bin", "netbase")


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, from Debian's mirror
def test_root_installs_a_python_as_its_scripts_would_without_running_them(tmp_path):
    """What a -min image holds, from Debian 13's mirror into an empty root, no script run and
    no shell there: a merged /usr; the byte-code of the standard library, code for code what
    python3.13's and python3.13-minimal's postinst compiled in the overlay's own root (there
    dpkg ran them when debootstrap installed python3), but checked-hash; the files of libc-bin,
    netbase and readline-common's scripts and libreadline8t64's diversions as there; and the
    interpreter, run inside the root, imports its modules without writing byte-code."""
    with installed_into_an_empty_root(tmp_path, "trixie", *MIN_PACKAGES) as (merged, target):
        for d in ("bin", "sbin", "lib"):
            assert os.readlink(target / d) == f"usr/{d}"
        assert not (target / "bin/sh").exists() and not (target / "usr/bin/dpkg").exists()
        for name in ("etc/nsswitch.conf", "etc/inputrc", "etc/hosts", "etc/networks"):
            assert (target / name).read_bytes() == (merged / name).read_bytes(), name
        assert (target / "etc/ld.so.cache").exists()

        def diversions(root):
            lines = (root / "var/lib/dpkg/diversions").read_text().splitlines()
            found = {tuple(lines[i : i + 3]) for i in range(0, len(lines), 3)}
            return {d for d in found if d[2] == "libreadline8t64"}

        assert len(diversions(target)) == 4 and diversions(target) == diversions(merged)
        for d in (f"usr/local/lib/{TRIXIE_PYTHON}/dist-packages", f"var/lib/python/{TRIXIE_PYTHON}_installed"):
            assert (target / d).exists() == (merged / d).exists(), d
        # the judge: the overlay's interpreter reads both byte-codes of each module
        compare = f"""
import glob, importlib.util, marshal, sys
ours = mismatched = 0
for source in sorted(glob.glob("/usr/lib/{TRIXIE_PYTHON}/**/*.py", recursive=True)):
    theirs = importlib.util.cache_from_source(source)
    mine = "/target" + theirs
    try:
        a, b = open(mine, "rb").read(), open(theirs, "rb").read()
    except FileNotFoundError as e:
        print("missing", e.filename)
        continue
    ours += 1
    flags = int.from_bytes(a[4:8], "little")
    if flags != 3 or a[8:16] != importlib.util.source_hash(open(source, "rb").read()):
        print("not checked-hash", mine)
    x, y = marshal.loads(a[16:]), marshal.loads(b[16:])
    if x != y or x.co_filename != y.co_filename:
        print("differs", mine)
print(ours)
"""
        r = run(["chroot", merged, f"/usr/bin/{TRIXIE_PYTHON}", "-c", compare])
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[:-1] == [] and int(r.stdout.splitlines()[-1]) > 500, r.stdout[-2000:]
        stamp = tmp_path / "stamp"
        stamp.touch()
        code = "import json, ssl, sqlite3, asyncio, email.mime.text, zoneinfo, decimal; print(ssl.OPENSSL_VERSION)"
        r = run(["chroot", target, f"/usr/bin/{TRIXIE_PYTHON}", "-c", code])
        assert r.returncode == 0 and r.stdout.startswith("OpenSSL 3."), r.stderr
        written = [p for p in target.rglob("*.pyc") if p.stat().st_mtime > stamp.stat().st_mtime]
        assert written == []
        assert_clean(merged)


# the libraries WeasyPrint loads with ffi.dlopen(), as find-libdeps --dlopen lists them
DLOPENED = ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "libfontconfig1", "libglib2.0-0t64")


@pytest.mark.needs("root")  # apt-get in an overlay of a debootstrap root, from Debian's mirror
def test_root_sets_fonts_and_glib_up_as_their_scripts_would_without_running_them(tmp_path):
    """Pango, fontconfig and GLib from Debian 13's mirror into an empty root: the settings
    fontconfig-config's postinst links, the font cache fontconfig's builds and the caches
    GLib's compiles are those that dpkg, running the scripts with debconf's defaults, made of
    the same packages in the overlay's own root; fonts installed later are cached too."""
    with installed_into_an_empty_root(tmp_path, "trixie", *DLOPENED) as (merged, target):
        r = apt_install(merged, *DLOPENED)  # the judge: dpkg runs the scripts
        assert r.returncode == 0, r.stdout + r.stderr
        conf = "etc/fonts/conf.d"
        links = {p.name: os.readlink(p) for p in (merged / conf).iterdir() if p.is_symlink()}
        assert {p.name: os.readlink(p) for p in (target / conf).iterdir() if p.is_symlink()} == links
        assert "10-hinting-slight.conf" in links
        assert (target / "usr/local/share/fonts").is_dir()

        def caches(root):
            return sorted(p.name for p in (root / "var/cache/fontconfig").iterdir())

        assert caches(target) == caches(merged) and any(n.endswith(".cache-9") for n in caches(target))
        for made in ("usr/share/glib-2.0/schemas/gschemas.compiled", f"usr/lib/{TRIPLET}/gio/modules/giomodule.cache"):
            assert (target / made).exists() == (merged / made).exists(), made
        # a font installed later: fontconfig's trigger, which apt-install --root pulls itself
        before = caches(target)
        r = apt_install(merged, "--root", "/target", "fonts-liberation")
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(caches(target)) > len(before)
        assert_clean(merged)
