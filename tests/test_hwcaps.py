"""Hardware subdirectories and $PLATFORM (ext/hwcaps.c, ext/ldsearch.c): which file the loader
takes can depend on the CPU that runs the image. find-libdeps follows the rules of the root's own
glibc (Debian 12: 2.36, with the legacy subdirectories; Debian 13: 2.41, without), lists every
file some kind of CPU loads with the first kind that loads it, and the real loader in each root,
on this machine's CPU, loads one of them."""

from __future__ import annotations

import json

import pytest
from snakepack import find_libdeps

from conftest import run, tool, write_status

BASELINE = "baseline, AT_PLATFORM x86_64"
V2 = "x86-64-v2, AT_PLATFORM x86_64"
V3 = "x86-64-v3, AT_PLATFORM x86_64"
HASWELL = "x86-64-v3, AT_PLATFORM haswell"


def candidates(result, path) -> dict[str, list[tuple[str, str | None]]]:
    """{needed name: [(path, cpu), ...]} of the load tree rooted at PATH, in order."""
    f = next(f for f in result.files if f.path == str(path))
    found: dict[str, list[tuple[str, str | None]]] = {}
    for r in f.resolutions:
        if r.how != "loaded":
            found.setdefault(r.name, []).append((r.path, r.cpu))
    return found


def loaded_by_the_loader(root, program) -> dict[str, str]:
    """{name: path} that the root's own loader maps for PROGRAM on this machine's CPU."""
    r = run(["chroot", root, "ldd", program])
    assert r.returncode == 0, r.stderr
    pairs = (line.split() for line in r.stdout.splitlines() if " => " in line)
    return {words[0]: words[2] for words in pairs}


@pytest.fixture
def hw_tree(elf, tmp_path):
    """A program whose libraries lie in hardware subdirectories of its RPATH."""
    t = tmp_path / "t"
    elf.lib(t / "lib/liblegacy.so.1", soname="liblegacy.so.1")
    elf.lib(t / "lib/x86_64/liblegacy.so.1", soname="liblegacy.so.1")  # legacy: every x86-64 CPU, glibc <= 2.36
    elf.lib(t / "lib/glibc-hwcaps/x86-64-v2/libonlyv2.so.1", soname="libonlyv2.so.1")
    elf.lib(t / "lib/libvar.so.1", soname="libvar.so.1")
    elf.lib(t / "lib/glibc-hwcaps/x86-64-v3/libvar.so.1", soname="libvar.so.1", needed=["libz.so.1"])
    elf.lib(t / "plat/x86_64/libplat.so.1", soname="libplat.so.1")
    elf.lib(t / "plat/haswell/libplat.so.1", soname="libplat.so.1")
    elf.program(
        t / "app",
        needed=["liblegacy.so.1", "libonlyv2.so.1", "libvar.so.1", "libplat.so.1"],
        rpath="$ORIGIN/lib:$ORIGIN/plat/$PLATFORM",
    )
    return t


@pytest.mark.parametrize(
    "root_fixture, glibc, legacy",
    [("debian_root", "2.36", "lib/x86_64/liblegacy.so.1"), ("trixie_root", "2.41", "lib/liblegacy.so.1")],
)
def test_every_file_some_cpu_loads_by_the_roots_glibc(request, hw_tree, in_root, root_fixture, glibc, legacy):
    root = request.getfixturevalue(root_fixture)
    t = in_root(root, hw_tree) + "/t"
    app = f"{t}/app"
    result = find_libdeps(t, root=root)
    assert result.glibc == {"x86_64-linux-gnu": glibc}
    got = candidates(result, app)
    assert got["liblegacy.so.1"] == [(f"{t}/{legacy}", None)]
    assert got["libonlyv2.so.1"] == [(f"{t}/lib/glibc-hwcaps/x86-64-v2/libonlyv2.so.1", V2)]
    assert got["libvar.so.1"] == [
        (f"{t}/lib/libvar.so.1", BASELINE),
        (f"{t}/lib/glibc-hwcaps/x86-64-v3/libvar.so.1", V3),
    ]
    assert got["libplat.so.1"] == [
        (f"{t}/plat/x86_64/libplat.so.1", BASELINE),
        (f"{t}/plat/haswell/libplat.so.1", HASWELL),
    ]
    # the v3 copy's own needs count: some CPU loads it
    assert "zlib1g" in result.package_names
    assert f"{app}: libonlyv2.so.1 is not found on a CPU such as {BASELINE} (it is on {V2})" in result.warnings
    # the judge: what this machine's CPU loads is one of them
    for name, path in loaded_by_the_loader(root, app).items():
        if name in got:
            assert path in [p for p, _ in got[name]], name
    r = run([tool("find-libdeps"), "--check", "--root", root, t])
    assert r.returncode == 0, r.stderr


def test_json_names_the_cpu(debian_root, hw_tree, in_root):
    t = in_root(debian_root, hw_tree) + "/t"
    r = run([tool("find-libdeps"), "--json", "--root", debian_root, t])
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["glibc"] == {"x86_64-linux-gnu": "2.36"}
    cpus = {(x["name"], x["cpu"]) for f in doc["files"] for x in f["resolutions"] if x["name"] == "libplat.so.1"}
    assert cpus == {("libplat.so.1", BASELINE), ("libplat.so.1", HASWELL)}
    assert all(x["cpu"] is None for f in doc["files"] for x in f["resolutions"] if x["name"] == "liblegacy.so.1")


def test_ld_so_cache_entries_of_hwcaps_subdirectories(elf, tmp_path):
    """A cache made by the real ldconfig that lists glibc-hwcaps copies: each one a CPU could
    load is listed. This root has no loader: its glibc is unknown and taken as a current one."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/ld.so.conf").write_text("/opt/l\n")
    elf.lib(root / "opt/l/libhw.so.1", soname="libhw.so.1")
    for level in ("x86-64-v2", "x86-64-v3"):
        elf.lib(root / f"opt/l/glibc-hwcaps/{level}/libhw.so.1", soname="libhw.so.1")
    elf.program(root / "app/x", needed=["libhw.so.1"])
    r = run(["ldconfig", "-r", root])
    assert r.returncode == 0, r.stderr
    listing = run(["ldconfig", "-p", "-C", root / "etc/ld.so.cache"]).stdout
    assert "glibc-hwcaps" in listing
    write_status(root, {})
    result = find_libdeps("/app", root=root)
    assert result.glibc == {"x86_64-linux-gnu": None}
    f = next(f for f in result.files if f.path == "/app/x")
    assert [(r.how, r.realpath, r.cpu) for r in f.resolutions if r.name == "libhw.so.1"] == [
        ("ld.so.cache", "/opt/l/libhw.so.1", BASELINE),
        ("ld.so.cache", "/opt/l/glibc-hwcaps/x86-64-v2/libhw.so.1", V2),
        ("ld.so.cache", "/opt/l/glibc-hwcaps/x86-64-v3/libhw.so.1", V3),
    ]


def test_a_tree_without_hardware_subdirectories_names_no_cpu(elf, tmp_path):
    t = tmp_path / "t"
    elf.lib(t / "lib/libplain.so.1", soname="libplain.so.1")
    app = elf.lib(t / "app.so", rpath="$ORIGIN/lib", needed=["libplain.so.1", "libc.so.6"])
    got = candidates(find_libdeps(t), app)
    assert got["libplain.so.1"] == [(str(t / "lib/libplain.so.1"), None)]
    assert [cpu for _, cpu in got["libc.so.6"]] == [None]
