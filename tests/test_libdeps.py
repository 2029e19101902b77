"""find_libdeps end to end, against the real loader's answer on real Debian trees."""

import os

import pytest
from snakepack import LibdepsError, UsageError, find_libdeps

import ldd_oracle
from conftest import by_name, run, tool, write_status

DIST = "/usr/lib/python3/dist-packages"


@pytest.fixture(scope="module")
def dist_packages():
    files = ldd_oracle.elf_files(DIST) if os.path.isdir(DIST) else []
    if len(files) < 50:
        pytest.skip(f"{DIST} has {len(files)} ELF files; scripts/test installs Debian's numpy, scipy, lxml, pillow")
    return files


def test_same_packages_as_the_real_loader_on_dist_packages(dist_packages):
    expected = ldd_oracle.packages(DIST)
    result = find_libdeps(DIST)
    assert len(result.files) >= 50
    assert set(result.package_names) == expected
    # none of the seed pipeline's substring false positives
    assert not {"libc6-dev", "libc6-i386", "lib32gcc-s1", "lib32stdc++6"} & set(result.package_names)
    assert result.unresolved == [] and result.unowned == []


def test_root_on_a_debootstrap_tree_matches_the_loader_inside_it(debian_root):
    expected = ldd_oracle.packages("/usr/bin", chroot=str(debian_root))
    result = find_libdeps("/usr/bin", root=debian_root)
    assert len(result.files) >= 50
    assert set(result.package_names) == expected
    assert result.unresolved == []


def test_root_cli_prints_the_same(debian_root):
    r = run([tool("find-libdeps"), "--root", debian_root, "/usr/bin"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == find_libdeps("/usr/bin", root=debian_root).package_names


def test_exclude_installed_drops_what_the_target_has(elf, tmp_path):
    t = tmp_path / "t"
    elf.lib(t / "a.so", needed=["libc.so.6", "libz.so.1"])
    status = tmp_path / "status"
    status.write_text(
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\n"
        "Package: zlib1g\nStatus: deinstall ok config-files\nArchitecture: amd64\n"
    )
    assert find_libdeps(t).package_names == ["libc6", "zlib1g"]
    assert find_libdeps(t, exclude_installed=status).package_names == ["zlib1g"]
    r = run([tool("find-libdeps"), "--exclude-installed", status, t])
    assert r.stdout.split() == ["zlib1g"]
    r = run([tool("find-libdeps"), "--exclude-installed", tmp_path / "absent", t])
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_root_without_dpkg_database_is_an_error(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "app/x.so")
    with pytest.raises(LibdepsError, match="/var/lib/dpkg/status"):
        find_libdeps("/app", root=root)
    r = run([tool("find-libdeps"), "--root", root, "/app"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_missing_path_raises_usage_error(tmp_path):
    with pytest.raises(UsageError, match="No such file"):
        find_libdeps(tmp_path / "nothing")


# ---- a tree that holds system libraries -------------------------------------------------------


def test_libraries_inside_the_scanned_tree_map_to_their_packages():
    lib = "/usr/lib/x86_64-linux-gnu"
    if not os.path.exists(f"{lib}/libc.so.6"):
        pytest.skip("not an x86-64 Debian machine")
    whole = find_libdeps(lib)
    assert "libc6" in whole.package_names and "zlib1g" in whole.package_names
    assert whole.bundled == []  # every library there belongs to a package
    # a scan of a tree lists everything a scan of a part of it lists
    assert set(find_libdeps(f"{lib}/libz.so.1").package_names) <= set(whole.package_names)
    assert set(find_libdeps("/usr/bin").package_names) <= set(find_libdeps("/usr").package_names)


def test_bundled_means_inside_the_tree_and_owned_by_no_package(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libvendored.so.1", "libowned.so.1"], rpath="$ORIGIN/libs")
    elf.lib(root / "app/libs/libvendored.so.1", soname="libvendored.so.1")
    elf.lib(root / "app/libs/libowned.so.1", soname="libowned.so.1")
    write_status(root, {"libowned1": ("amd64", ["/app/libs/libowned.so.1"])})
    result = find_libdeps("/app", root=root)
    assert result.bundled == ["/app/libs/libvendored.so.1"]
    assert result.package_names == ["libowned1"]
    res = by_name(result, "/app/x.so")
    assert res["libvendored.so.1"].bundled and not res["libowned.so.1"].bundled


def test_errors_are_routed_by_what_they_are_about_not_by_their_text(tmp_path):
    with pytest.raises(UsageError, match="/var/lib/dpkg/no-such-tree: No such file"):
        find_libdeps("/var/lib/dpkg/no-such-tree")


def test_why_shows_each_chain_that_pulls_a_package_in(tmp_path, elf):
    app = tmp_path / "app"
    helper = elf.lib(app / "libs/libhelper.so.1", soname="libhelper.so.1", needed=["libbz2.so.1.0"])
    ext = elf.lib(app / "ext.so", needed=["libhelper.so.1"], runpath="$ORIGIN/libs")
    r = run([tool("find-libdeps"), "--why", "libbz2-1.0", app])
    assert r.returncode == 0, r.stderr
    bz2 = next(r.path for f in find_libdeps(app).files for r in f.resolutions if r.name == "libbz2.so.1.0")
    assert r.stdout.splitlines() == [
        f"{ext} -> libhelper.so.1 (DT_NEEDED, runpath) {app}/libs/libhelper.so.1 -> libbz2.so.1.0 (DT_NEEDED, ld.so.cache) {bz2} -> libbz2-1.0",
        f"{helper} -> libbz2.so.1.0 (DT_NEEDED, ld.so.cache) {bz2} -> libbz2-1.0",
    ]


def test_why_a_package_nothing_pulls_in_is_exit_1(tmp_path, elf):
    elf.lib(tmp_path / "app/ext.so", needed=["libz.so.1"])
    r = run([tool("find-libdeps"), "--why", "libbz2-1.0", tmp_path / "app"])
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"find-libdeps: libbz2-1.0: pulled in by nothing under {tmp_path / 'app'}\n"
