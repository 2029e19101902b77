"""File ownership from the dpkg database (ext/dpkg.c): the machine's own, and roots whose
database is written in dpkg's formats by the test (diversions by the real dpkg-divert)."""

import os
import shutil

import pytest
from snakepack import _core, find_libdeps

from conftest import by_name, run, tool, write_status

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def test_libc_belongs_to_libc6_only():
    if not os.path.exists(LIBC):
        pytest.skip("not an x86-64 Debian machine")
    canonical = os.path.realpath(os.path.dirname(LIBC)) + "/libc.so.6"
    assert _core.dpkg_owners("/", [canonical]) == [[("libc6", "amd64")]]


def test_usrmerge_spelling_of_the_list_matches_the_canonical_path(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libz.so.1", soname="libz.so.1")
    (root / "lib").symlink_to("usr/lib")
    # dpkg recorded the path as shipped, through the /lib symlink
    write_status(root, {"zlib1g:amd64": ("amd64", ["/lib/x86_64-linux-gnu/libz.so.1"])})
    assert _core.dpkg_owners(root, ["/usr/lib/x86_64-linux-gnu/libz.so.1"]) == [[("zlib1g", "amd64")]]


def test_only_installed_packages_own_files(tmp_path):
    root = tmp_path / "root"
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    states = {
        "gone": "deinstall ok config-files",
        "half": "install reinstreq half-installed",
        "trig": "install ok triggers-pending",
        "ok": "install ok installed",
    }
    (root / "var/lib/dpkg/status").write_text(
        "\n".join(f"Package: {p}\nStatus: {s}\nArchitecture: all\n" for p, s in states.items())
    )
    for p in states:
        (info / f"{p}.list").write_text("/usr/lib\n/usr/lib/libx.so.1\n")
    (owners,) = _core.dpkg_owners(root, ["/usr/lib/libx.so.1"])
    assert sorted(owners) == [("ok", "all"), ("trig", "all")]


@pytest.mark.skipif(shutil.which("dpkg-divert") is None, reason="needs dpkg-divert")
def test_diversions(elf, tmp_path):
    root = tmp_path / "root"
    lib = "/usr/lib/x86_64-linux-gnu"
    write_status(
        root,
        {
            "libd1": ("amd64", [f"{lib}/libd.so.1", f"{lib}/libl.so.1"]),
            "divpkg": ("amd64", [f"{lib}/libd.so.1"]),
        },
    )
    (root / lib.lstrip("/")).mkdir(parents=True)
    for args in (
        ["--package", "divpkg", "--divert", f"{lib}/libd.so.1.orig", f"{lib}/libd.so.1"],
        ["--local", "--divert", f"{lib}/libl.so.1.orig", f"{lib}/libl.so.1"],
    ):
        r = run(["dpkg-divert", "--root", root, "--no-rename", "--add", *args])
        assert r.returncode == 0, r.stderr
    assert "divpkg" in (root / "var/lib/dpkg/diversions").read_text()
    answers = _core.dpkg_owners(
        root, [f"{lib}/libd.so.1", f"{lib}/libd.so.1.orig", f"{lib}/libl.so.1", f"{lib}/libl.so.1.orig"]
    )
    assert answers == [
        [("divpkg", "amd64")],  # the diverting package's file is in place
        [("libd1", "amd64")],  # the original moved aside still comes from its package
        [],  # a local diversion: the administrator's file
        [("libd1", "amd64")],
    ]


def test_alternatives_and_ldconfig_links_belong_to_their_targets(elf, tmp_path):
    root = tmp_path / "root"
    lib = root / "usr/lib/x86_64-linux-gnu"
    elf.lib(lib / "blas/libblas.so.3", soname="libblas.so.3")
    (root / "etc/alternatives").mkdir(parents=True)
    (root / "etc/alternatives/libblas.so.3-x86_64-linux-gnu").symlink_to("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3")
    (lib / "libblas.so.3").symlink_to("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    elf.lib(lib / "libfoo.so.1.2.3", soname="libfoo.so.1")
    (lib / "libfoo.so.1").symlink_to("libfoo.so.1.2.3")  # made by ldconfig, in no list
    (root / "lib").symlink_to("usr/lib")
    elf.lib(root / "app/x.so", needed=["libblas.so.3", "libfoo.so.1"])
    write_status(
        root,
        {
            "libblas3": ("amd64", ["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"]),
            "libfoo1": ("amd64", ["/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3"]),
        },
    )
    result = find_libdeps("/app", root=root)
    assert result.package_names == ["libblas3", "libfoo1"]
    res = by_name(result, "/app/x.so")
    assert res["libblas.so.3"].realpath == "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"
    assert result.unowned == []


def test_unowned_library_is_reported(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libnobody.so.1", soname="libnobody.so.1")
    elf.lib(root / "app/x.so", needed=["libnobody.so.1"])
    write_status(root, {})
    result = find_libdeps("/app", root=root)
    assert result.unowned == ["/usr/lib/x86_64-linux-gnu/libnobody.so.1"]
    assert result.package_names == []
    r = run([tool("find-libdeps"), "--root", root, "/app"])
    assert r.returncode == 0 and r.stdout == ""
    assert "/usr/lib/x86_64-linux-gnu/libnobody.so.1: owned by no installed package" in r.stderr


def test_installed_reads_a_status_file(tmp_path):
    status = tmp_path / "status"
    status.write_text(
        "Package: a\nStatus: install ok installed\nArchitecture: amd64\nDescription: x\n more\n\n"
        "Package: b\nStatus: purge ok not-installed\nArchitecture: amd64\n\n"
        "Package: c\nArchitecture: all\nStatus: install ok installed\n"
    )
    assert _core.dpkg_installed(status) == [("a", "amd64"), ("c", "all")]
