"""find_libdeps end to end, against the real loader's answer on real Debian trees."""

import os

import pytest

import ldd_oracle
from conftest import run, tool
from snakepack import LibdepsError, UsageError, find_libdeps

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
