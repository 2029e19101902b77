"""The one confined layer for Python code that touches a root (snakepack/confined.py): judged
against the C core's resolver (ext/libdeps/rootfs.c, built here into a small program, with the
kernel's openat2 and with its user-space walk) over cases of the form the rootfs fuzzer takes,
and by what reads and writes inside a hostile root leave on the host: nothing."""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from snakepack import SnakepackError, effects
from snakepack.confined import Root

from conftest import CC, REPO, run, tool, tree_digest

# The C core's resolver as a program: the root, then a line per case on stdin, "F PATH" (F: 1
# follows a symlink in the last component); prints the canonical path or -ERRNO, a line each.
RESOLVE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libdeps/rootfs.h"
int main(int argc, char **argv)
{
    struct sp_root r;
    struct sp_err err = {0};
    char line[8192];
    if (argc != 2 || sp_root_init(&r, argv[1], &err) < 0)
        return 2;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *out = NULL;
        if (sp_root_resolve(&r, line + 2, line[0] == '1', &out) < 0)
            printf("-%d\n", errno);
        else
            printf("%s\n", out);
        free(out);
    }
    sp_root_free(&r);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_resolver(tmp_path_factory) -> Path:
    if CC is None:
        pytest.skip("no C compiler")
    work = tmp_path_factory.mktemp("resolver")
    (work / "resolve.c").write_text(RESOLVE_C)
    sources = [work / "resolve.c", REPO / "ext/libdeps/rootfs.c", REPO / "ext/common/util.c"]
    r = run([CC, "-std=c11", "-Wall", "-Werror", "-I", REPO / "ext", "-o", work / "resolve", *sources])
    assert r.returncode == 0, r.stderr
    return work / "resolve"


NAMES = ["a", "b", "c", "up", "abs", "loop", "self", "x", "fifo", "d"]
TARGETS = [
    "/",
    ".",
    "..",
    "../..",
    "../../..",
    "/a/b",
    "a/b",
    "/a/../../b",
    "loop",
    "x/..",
    "/nowhere",
    "c/",
    "../a//b/.",
]


def cases(seed: int, count: int) -> list[tuple[list[tuple[str, str]], str, bool]]:
    """Cases as the rootfs fuzzer's inputs are: up to eight symlinks (made in the root and in
    a/b, by turns), then a path, and whether its last symlink is followed; the fuzzer's seeds
    first (scripts/fuzz)."""
    found = [
        ([("up", "../../.."), ("abs", "/a/b"), ("loop", "loop"), ("self", ".")], "/a/b/up/../abs/c/../../..", True),
        ([("x", "/")], "/x/x/a/fifo", True),
    ]
    rng = random.Random(seed)
    for _ in range(count):
        links = [
            (rng.choice(NAMES), rng.choice(TARGETS + ["/" + "/".join(rng.choices(NAMES, k=3))]))
            for _ in range(rng.randint(0, 8))
        ]
        path = "/" + "/".join(rng.choices(NAMES + ["..", ".", ""], k=rng.randint(0, 6)))
        found.append((links, path, rng.random() < 0.5))
    return found


def make_root(where: Path, links: list[tuple[str, str]]) -> None:
    (where / "a/b/c").mkdir(parents=True)
    os.mkfifo(where / "a/fifo")
    for i, (name, target) in enumerate(links):
        link = where / ("a/b/" if i % 2 else "") / name
        if not os.path.lexists(link):
            link.symlink_to(target)


def python_answer(root: Root, path: str, follow: bool) -> str:
    """What the layer says, in the C program's terms: a canonical path of something that is
    there (a symlink itself where not followed), or -ERRNO."""
    try:
        found = root.resolve(path, follow)
    except OSError as err:
        return f"-{err.errno}"
    return found if root.lexists(found) else f"-{errno.ENOENT}"


@pytest.mark.parametrize("walk", ["openat2", "user space"])
def test_the_layer_resolves_as_the_c_core_does(c_resolver, tmp_path, walk):
    env = dict(os.environ)
    if walk == "user space":
        env["SNAKEPACK_NO_OPENAT2"] = "1"
    else:
        env.pop("SNAKEPACK_NO_OPENAT2", None)
    differ = []
    for i, (links, path, follow) in enumerate(cases(seed=40, count=300)):
        where = tmp_path / str(i)
        make_root(where, links)
        c = subprocess.run(
            [c_resolver, where], input=f"{int(follow)} {path}\n", capture_output=True, text=True, env=env
        )
        assert c.returncode == 0, c.stderr
        with Root(str(where)) as root:
            mine = python_answer(root, path, follow)
        if c.stdout.strip() != mine:
            differ.append((links, path, follow, c.stdout.strip(), mine))
    assert differ == []


def test_a_root_never_leads_to_the_host(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/abs").symlink_to(host)  # the host's directory, by its host path
    (root / "etc/up").symlink_to("../../../../../../../..")
    (root / "etc/file").symlink_to(host / "secret")
    with Root(str(root)) as r:
        assert r.resolve("/etc/up/..") == "/"
        assert r.resolve("/etc/abs", follow=False) == "/etc/abs"
        assert not r.exists("/etc/abs/secret")
        with pytest.raises(FileNotFoundError):
            r.read_bytes("/etc/file")
        r.makedirs("/etc/up/made")
        (root / str(host).lstrip("/")).mkdir(parents=True)
        assert r.resolve("/etc/abs") == str(host)  # a path of the root
        r.write_text("/etc/file", "root\n")
        r.write_text("/etc/abs/new", "x")
    assert sorted(os.listdir(host)) == ["secret"] and (host / "secret").read_text() == "host\n"
    assert (root / "made").is_dir()
    assert (root / str(host).lstrip("/") / "secret").read_text() == "root\n"
    assert (root / str(host).lstrip("/") / "new").read_text() == "x"


def test_a_write_never_reaches_a_hard_linked_file(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("host\n")
    (tmp_path / "root").mkdir()
    os.link(outside, tmp_path / "root/shared")
    with Root(str(tmp_path / "root")) as r:
        r.write_text("/shared", "root\n")
    assert outside.read_text() == "host\n"
    assert (tmp_path / "root/shared").read_text() == "root\n"


def test_only_regular_files_are_read(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with Root(str(tmp_path)) as r, pytest.raises(OSError) as e:
        r.read_bytes("/fifo")  # never blocks
    assert e.value.errno == errno.EINVAL


# ---- what reads and writes a root: nothing on the host ------------------------------------------


def test_time_zone_effect_writes_inside_the_root_through_an_absolute_link(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "x").write_text("host\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/timezone").symlink_to(host / "x")
    inside = root / str(host).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "x").write_text("Europe/Paris\n")
    before = tree_digest(host)
    with Root(str(root)) as r:
        effects.apply(r, "tzdata")
    assert tree_digest(host) == before
    assert (inside / "x").read_text() == "Etc/UTC\n"
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Etc/UTC"


def certificate(where: Path, name: str) -> bytes:
    r = run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-days", "1", "-subj", f"/CN={name}", "-keyout", "/dev/null", "-out", where]
    )
    assert r.returncode == 0, r.stderr
    return where.read_bytes()


def test_certificates_effect_reads_and_writes_inside_the_root(tmp_path):
    host = tmp_path / "host"
    (host / "certs").mkdir(parents=True)
    (host / "local").mkdir()
    root = tmp_path / "root"
    (root / "usr/share/ca-certificates/mozilla").mkdir(parents=True)
    (root / "usr/local/share/ca-certificates").mkdir(parents=True)
    (root / "etc/ssl").mkdir(parents=True)
    debian = certificate(root / "usr/share/ca-certificates/mozilla/Debian_CA.crt", "debian")
    # the administrator's certificate behind an absolute link: the root's own, not the host's
    hosts = certificate(host / "local/mine.crt", "host")
    inside = root / str(host).lstrip("/")
    (inside / "local").mkdir(parents=True)
    (inside / "certs").mkdir()
    mine = certificate(inside / "local/mine.crt", "root")
    (root / "usr/local/share/ca-certificates/mine.crt").symlink_to(host / "local/mine.crt")
    (root / "etc/ssl/certs").symlink_to(host / "certs")
    before = tree_digest(host)
    with Root(str(root)) as r:
        effects.apply(r, "ca-certificates")
    assert tree_digest(host) == before
    bundle = (inside / "certs/ca-certificates.crt").read_bytes()
    assert bundle == debian + mine and hosts not in bundle
    assert os.readlink(inside / "certs/Debian_CA.pem") == "/usr/share/ca-certificates/mozilla/Debian_CA.crt"
    assert len([p for p in (inside / "certs").iterdir() if p.name.endswith(".0")]) == 2


def test_a_failing_effect_names_the_package_and_the_path(tmp_path):
    (tmp_path / "usr").write_text("")  # no directory where base-passwd's files must be
    with Root(str(tmp_path)) as r, pytest.raises(SnakepackError) as e:
        effects.apply(r, "base-passwd")
    assert str(e.value) == "base-passwd: what its scripts do: /usr/share/base-passwd/passwd.master: Not a directory"


def two_sided(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A root whose /opt/NAME is an absolute link to a host directory that the root has too:
    (the root, the host directory)."""
    host = tmp_path / "host" / name
    host.mkdir(parents=True)
    root = tmp_path / "root"
    (root / "opt").mkdir(parents=True)
    (root / str(host).lstrip("/")).mkdir(parents=True)
    (root / "opt" / name).symlink_to(host)
    return root, host


def dist_info(site: Path, name: str, version: str) -> None:
    meta = site / f"{name}-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (meta / "RECORD").write_text("")


def test_sbom_reads_the_roots_distributions_not_the_hosts(tmp_path):
    root, host = two_sided(tmp_path, "venv")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    dist_info(host / "lib/python3.11/site-packages", "hostonly", "9.9")
    dist_info(root / str(host).lstrip("/") / "lib/python3.11/site-packages", "inroot", "1.0")
    r = run([tool("find-libdeps"), "--root", root, "--sbom", "/opt/venv"])
    assert r.returncode == 0, r.stderr
    names = {c["name"] for c in json.loads(r.stdout)["components"]}
    assert "inroot" in names and "hostonly" not in names


def test_inventory_reads_the_roots_environments_not_the_hosts(tmp_path):
    root, host = two_sided(tmp_path, "app")
    dist_info(host / "lib/python3.11/site-packages", "hostonly", "9.9")
    dist_info(root / str(host).lstrip("/") / "lib/python3.11/site-packages", "inroot", "1.0")
    (root / "usr").symlink_to(tmp_path / "host")  # the whole of /usr an absolute link too
    before = tree_digest(tmp_path / "host")
    r = run([sys.executable, "-m", "snakepack.inventory", "--root", root, "app"])
    assert (r.returncode, r.stderr) == (0, "")
    assert tree_digest(tmp_path / "host") == before
    out = root / str(tmp_path / "host").lstrip("/") / "share/snakepack/inventory"  # the root's /usr
    listed = "".join(p.read_text() for p in (out / "python").iterdir())
    assert "inroot==1.0" in listed and "hostonly" not in listed
