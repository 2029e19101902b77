"""The loader's search rules (ext/ldsearch.c), each on ELF files compiled for the test."""

import os
import sys

import pytest
from snakepack import find_libdeps

from conftest import CC, EM_AARCH64, address_space_limit, by_name, run, tool, write_status


def test_rpath_is_inherited_through_the_loader_chain(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN/a", needed=["libb.so.1"])
    elf.lib(t / "a/libb.so.1", soname="libb.so.1", needed=["libx.so.1"])
    elf.lib(t / "a/libx.so.1", soname="libx.so.1")
    res = by_name(find_libdeps(t), app)
    assert res["libb.so.1"].how == "rpath"
    # libb has no search path of its own: app's RPATH serves it.
    assert res["libx.so.1"].how == "rpath"
    assert res["libx.so.1"].realpath == str(t / "a/libx.so.1")
    assert res["libx.so.1"].bundled


def test_runpath_is_not_inherited(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", runpath="$ORIGIN/a", needed=["libb.so.1"])
    elf.lib(t / "a/libb.so.1", soname="libb.so.1", needed=["libx.so.1"])
    elf.lib(t / "a/libx.so.1", soname="libx.so.1")
    result = find_libdeps(t)
    res = by_name(result, app)
    assert res["libb.so.1"].how == "runpath"
    assert res["libx.so.1"].how == "not_found"
    assert res["libx.so.1"].needed_by == str(t / "a/libb.so.1")
    assert "libx.so.1" in [r.name for r in result.unresolved]


def test_runpath_of_an_object_disables_every_rpath_of_its_chain(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN/x", needed=["libb.so.1"])
    elf.lib(t / "x/libb.so.1", soname="libb.so.1", runpath="$ORIGIN/../y", needed=["libx.so.1"])
    elf.lib(t / "x/libx.so.1", soname="libx.so.1")  # reachable only through app's RPATH
    elf.lib(t / "y/libx.so.1", soname="libx.so.1")
    res = by_name(find_libdeps(t), app)
    assert res["libx.so.1"].how == "runpath"
    assert res["libx.so.1"].realpath == str(t / "y/libx.so.1")


def test_ld_library_path_only_when_given_and_between_rpath_and_runpath(elf, tmp_path):
    t = tmp_path / "t"
    with_runpath = elf.lib(t / "run/app.so", runpath="$ORIGIN/../r", needed=["libq.so.1"])
    with_rpath = elf.lib(t / "rp/app.so", rpath="$ORIGIN/../r", needed=["libq.so.1"])
    elf.lib(t / "r/libq.so.1", soname="libq.so.1")
    elf.lib(t / "l/libq.so.1", soname="libq.so.1")
    result = find_libdeps(t, ld_library_path=[str(t / "l")])
    assert by_name(result, with_runpath)["libq.so.1"].how == "ld_library_path"
    assert by_name(result, with_runpath)["libq.so.1"].realpath == str(t / "l/libq.so.1")
    assert by_name(result, with_rpath)["libq.so.1"].how == "rpath"
    # The environment of find-libdeps itself is never used.
    os.environ["LD_LIBRARY_PATH"] = str(t / "l")
    try:
        assert by_name(find_libdeps(t), with_runpath)["libq.so.1"].how == "runpath"
    finally:
        del os.environ["LD_LIBRARY_PATH"]


def test_wrong_class_and_machine_candidates_are_skipped(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN/i386:$ORIGIN/arm64:$ORIGIN/ok", needed=["libimp.so.1"])
    elf.lib(t / "i386/libimp.so.1", soname="libimp.so.1", mode="-m32")
    elf.set_machine(elf.lib(t / "arm64/libimp.so.1", soname="libimp.so.1"), EM_AARCH64)
    elf.lib(t / "ok/libimp.so.1", soname="libimp.so.1")
    res = by_name(find_libdeps(t), app)["libimp.so.1"]
    assert (res.how, res.realpath) == ("rpath", str(t / "ok/libimp.so.1"))


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_non_elf_or_truncated_candidate_stops_the_search(elf, tmp_path, kind):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN/bad:$ORIGIN/ok", needed=["libimp.so.1"])
    real = elf.lib(t / "ok/libimp.so.1", soname="libimp.so.1")
    bad = t / "bad/libimp.so.1"
    bad.parent.mkdir()
    bad.write_bytes(b"not a library\n" if kind == "text" else real.read_bytes()[:40])
    result = find_libdeps(t)
    res = by_name(result, app)["libimp.so.1"]
    assert res.how == "error" and res.path is None
    assert str(bad) in res.error
    assert res in result.unresolved
    if kind == "text":
        assert "invalid ELF header" in res.error
        assert f"{bad}: not an ELF file: skipped" in result.warnings


def test_nodeflib_skips_cache_and_default_directories(elf, tmp_path):
    t = tmp_path / "t"
    plain = elf.lib(t / "plain.so", needed=["libc.so.6"])
    nodeflib = elf.lib(t / "nodeflib.so", needed=["libc.so.6"], nodeflib=True)
    result = find_libdeps(t)
    assert by_name(result, plain)["libc.so.6"].how == "ld.so.cache"
    assert by_name(result, nodeflib)["libc.so.6"].how == "not_found"


def test_empty_path_element_is_ignored_with_a_warning(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath=":$ORIGIN/a", needed=["liba.so.1"])
    elf.lib(t / "a/liba.so.1", soname="liba.so.1")
    result = find_libdeps(t)
    assert by_name(result, app)["liba.so.1"].how == "rpath"
    assert any(str(app) in w and "empty element in RPATH" in w for w in result.warnings)


def test_origin_is_the_directory_the_object_was_opened_under(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN/libs", needed=["libb.so.1"])
    elf.lib(t / "vendor/libb.so.1", soname="libb.so.1", runpath="$ORIGIN/deps", needed=["libx.so.1"])
    (t / "libs").mkdir()
    (t / "libs/libb.so.1").symlink_to("../vendor/libb.so.1")
    elf.lib(t / "libs/deps/libx.so.1", soname="libx.so.1")
    elf.lib(t / "vendor/deps/libx.so.1", soname="libx.so.1")  # what the real path would give
    res = by_name(find_libdeps(t), app)
    assert res["libb.so.1"].path == str(t / "libs/libb.so.1")
    assert res["libb.so.1"].realpath == str(t / "vendor/libb.so.1")
    assert res["libx.so.1"].realpath == str(t / "libs/deps/libx.so.1")


def test_origin_through_a_symlinked_directory_resolves_like_the_kernel(elf, tmp_path):
    t = tmp_path / "t"
    elf.lib(t / "real/sub/app.so", rpath="$ORIGIN/../lib", needed=["libd.so.1"])
    elf.lib(t / "real/lib/libd.so.1", soname="libd.so.1")
    elf.lib(t / "lib/libd.so.1", soname="libd.so.1")  # where a textual ".." would lead
    (t / "link").symlink_to("real/sub")
    result = find_libdeps(t / "link")
    res = by_name(result, t / "link/app.so")["libd.so.1"]
    assert res.realpath == str(t / "real/lib/libd.so.1")


def test_origin_of_a_program_is_its_real_directory(elf, tmp_path):
    t = tmp_path / "t"
    elf.program(t / "real/bin/prog", rpath="$ORIGIN/../lib", needed=["libp.so.1"])
    elf.lib(t / "real/lib/libp.so.1", soname="libp.so.1")
    elf.lib(t / "lib/libp.so.1", soname="libp.so.1")
    (t / "bin").mkdir()
    (t / "bin/prog").symlink_to("../real/bin/prog")
    result = find_libdeps(t / "bin/prog")
    res = by_name(result, t / "bin/prog")
    assert res["libp.so.1"].realpath == str(t / "real/lib/libp.so.1")
    # The program interpreter is loaded too, by path, and comes from libc6.
    interp = [r for r in res.values() if r.how == "path"]
    assert interp and interp[0].packages[0].name == "libc6"


def test_dynamic_string_tokens(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(
        t / "app.so",
        rpath="$ORIGIN/$PLATFORM:${ORIGIN}/${LIB}",
        needed=["libplat.so.1", "liblib.so.1", "$ORIGIN/o/libo.so"],
    )
    elf.lib(t / "x86_64/libplat.so.1", soname="libplat.so.1")
    elf.lib(t / "lib/x86_64-linux-gnu/liblib.so.1", soname="liblib.so.1")
    elf.lib(t / "o/libo.so")
    res = by_name(find_libdeps(t), app)
    assert res["libplat.so.1"].realpath == str(t / "x86_64/libplat.so.1")
    assert res["liblib.so.1"].realpath == str(t / "lib/x86_64-linux-gnu/liblib.so.1")
    assert (res["$ORIGIN/o/libo.so"].how, res["$ORIGIN/o/libo.so"].realpath) == ("path", str(t / "o/libo.so"))


def test_needed_paths_absolute_and_relative(elf, tmp_path):
    t = tmp_path / "t"
    absolute = elf.lib(tmp_path / "elsewhere/libabs.so")
    app = elf.lib(t / "app.so", needed=[str(absolute), "sub/librel.so"])
    res = by_name(find_libdeps(t), app)
    assert (res[str(absolute)].how, res[str(absolute)].path) == ("path", str(absolute))
    assert res["sub/librel.so"].how == "not_found"
    assert "working directory" in res["sub/librel.so"].error


def test_one_object_per_soname_and_per_file_in_a_tree(elf, tmp_path):
    t = tmp_path / "t"
    app = elf.lib(t / "app.so", rpath="$ORIGIN", needed=["liba.so.1", "libb.so.1", "libalias.so.1"])
    elf.lib(t / "liba.so.1", soname="liba.so.1", needed=["libb.so.1"])
    elf.lib(t / "libb.so.1", soname="libb.so.1")
    (t / "libalias.so.1").symlink_to("libb.so.1")
    f = next(f for f in find_libdeps(t).files if f.path == str(app))
    hows = [(r.name, r.how) for r in f.resolutions]
    # breadth-first: app's own needs first, then liba's, which finds libb already loaded
    assert hows == [("liba.so.1", "rpath"), ("libb.so.1", "rpath"), ("libalias.so.1", "rpath"), ("libb.so.1", "loaded")]
    alias = f.resolutions[2]
    assert alias.realpath == str(t / "libb.so.1")


def test_vendored_auditwheel_tree(elf, tmp_path):
    site = tmp_path / "site-packages"
    ext = elf.lib(
        site / "pkg/_ext.cpython-311-x86_64-linux-gnu.so",
        rpath="$ORIGIN/../pkg.libs",
        needed=["libfoo-1a2b3c4d.so.1.2.3"],
    )
    vendored = elf.lib(
        site / "pkg.libs/libfoo-1a2b3c4d.so.1.2.3",
        soname="libfoo-1a2b3c4d.so.1.2.3",
        rpath="$ORIGIN",
        needed=["libz.so.1", "libc.so.6"],
    )
    result = find_libdeps(site)
    assert {f.path for f in result.files} == {str(ext), str(vendored)}
    assert result.bundled == [str(vendored)]
    assert result.package_names == ["libc6", "zlib1g"]
    assert by_name(result, ext)["libfoo-1a2b3c4d.so.1.2.3"].packages == ()


def test_ld_so_conf_when_there_is_no_cache(elf, tmp_path):
    root = tmp_path / "root"
    conf = root / "etc/ld.so.conf.d"
    conf.mkdir(parents=True)
    (root / "etc/ld.so.conf").write_text("# comment\ninclude /etc/ld.so.conf.d/*.conf\n")
    (conf / "a.conf").write_text("/opt/a # trailing comment\ninclude sub/*.conf ../ld.so.conf\n")
    (conf / "sub").mkdir()
    (conf / "sub/b.conf").write_text("/opt/b\n")
    elf.lib(root / "opt/b/libconf.so.1", soname="libconf.so.1")
    elf.lib(root / "app/x.so", needed=["libconf.so.1"])
    write_status(root, {})
    result = find_libdeps("/app", root=root)
    res = by_name(result, "/app/x.so")["libconf.so.1"]
    assert (res.how, res.realpath) == ("ld.so.conf", "/opt/b/libconf.so.1")
    assert any("include loop" in w for w in result.warnings)


def test_root_symlinks_resolve_inside_the_root(elf, tmp_path):
    root = tmp_path / "root"
    elf.lib(root / "opt/real/libabs.so.1", soname="libabs.so.1")
    libdir = root / "usr/lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (libdir / "libabs.so.1").symlink_to("/opt/real/libabs.so.1")  # absolute: inside the root
    (libdir / "libesc.so.1").symlink_to("../../../../../../../../../../usr/lib/x86_64-linux-gnu/libc.so.6")
    (root / "lib").symlink_to("usr/lib")
    elf.lib(root / "app/x.so", needed=["libabs.so.1", "libesc.so.1"])
    write_status(root, {"libabs1": ("amd64", ["/opt/real/libabs.so.1"])})
    result = find_libdeps("/app", root=root)
    res = by_name(result, "/app/x.so")
    assert (res["libabs.so.1"].how, res["libabs.so.1"].realpath) == ("default", "/opt/real/libabs.so.1")
    assert res["libabs.so.1"].path == "/lib/x86_64-linux-gnu/libabs.so.1"
    # ".." stops at the root: the host's libc is not reachable from inside.
    assert res["libesc.so.1"].how == "not_found"
    assert result.package_names == ["libabs1"]


def test_foreign_architecture_root_uses_its_own_directories(elf, tmp_path):
    root = tmp_path / "root"
    elf.set_machine(elf.lib(root / "app/x.so", needed=["libarm.so.1"]), EM_AARCH64)
    elf.set_machine(elf.lib(root / "usr/lib/aarch64-linux-gnu/libarm.so.1", soname="libarm.so.1"), EM_AARCH64)
    elf.lib(root / "usr/lib/x86_64-linux-gnu/libarm.so.1", soname="libarm.so.1")
    write_status(root, {"libarm1:arm64": ("arm64", ["/usr/lib/aarch64-linux-gnu/libarm.so.1"])})
    result = find_libdeps("/app", root=root)
    res = by_name(result, "/app/x.so")["libarm.so.1"]
    assert (res.how, res.realpath) == ("default", "/usr/lib/aarch64-linux-gnu/libarm.so.1")
    assert [(p.name, p.arch) for p in result.packages] == [("libarm1", "arm64")]


def many_needed(elf, root, count: int):
    """/app/x.so in ROOT with COUNT DT_NEEDED names and a COUNT-entry DT_RPATH of existing,
    empty directories. The stub libraries it links against are one compiled library copied
    with its soname patched, so that building takes one compiler run, not COUNT."""
    stubs = root.parent / "stubs"
    stubs.mkdir()
    first = elf.lib(stubs / "libn0000.so", soname="libn0000.so")
    data = first.read_bytes()
    for i in range(1, count):
        (stubs / f"libn{i:04d}.so").write_bytes(data.replace(b"libn0000.so", f"libn{i:04d}.so".encode()))
    dirs = [f"/r/{i:04d}" for i in range(count)]
    for d in dirs:
        (root / d.lstrip("/")).mkdir(parents=True)
    (root / "app").mkdir()
    src = root.parent / "x.c"
    src.write_text("int x(void) { return 0; }\n")
    args = [
        CC,
        "-shared",
        "-fPIC",
        "-nostdlib",
        "-Wl,--no-as-needed",
        "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{':'.join(dirs)}",
        "-o",
        root / "app/x.so",
        src,
    ]
    args += sorted(stubs.glob("libn*.so"))
    r = run(args)
    assert r.returncode == 0, r.stderr
    write_status(root, {})
    return dirs


def test_cost_is_linear_in_needed_names_and_search_directories(elf, tmp_path):
    root = tmp_path / "root"
    dirs = many_needed(elf, root, 2000)
    log = tmp_path / "strace.log"
    code = (
        f"from snakepack import find_libdeps; r = find_libdeps('/app', root={str(root)!r})\n"
        "print(len(r.files[0].needed), len(r.unresolved))"
    )
    # bounded memory (the sanitizer run cannot bound it: there the call counts below apply)
    r = run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=openat,getdents64,newfstatat,lstat,stat,statx",
            "-o",
            log,
            sys.executable,
            "-c",
            code,
        ],
        timeout=600,
        preexec_fn=address_space_limit(400 << 20),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["2000", "2000"]
    calls = log.read_text().splitlines()
    opened = [line for line in calls if line.split("(")[0].endswith("openat") and "O_DIRECTORY" in line]
    for d in dirs[:50] + dirs[-50:]:  # each search directory is opened once, to be listed
        assert sum(f'{root}{d}"' in line for line in opened) == 1, d
    # about one directory read and a few lookups per directory and per name: not one per pair
    assert len(calls) < 40 * len(dirs), len(calls)


def test_x32_objects_load_the_x32_libc(elf, tmp_path):
    # ELFCLASS32 on x86-64: Debian's x32 ABI, whose libc on amd64 is libc6-x32 in /libx32 (the
    # test's packages install it; its ld.so.cache entries carry the x32 flag)
    x32 = elf.lib(tmp_path / "t/x32.so", needed=["libc.so.6"], mode="-mx32")
    result = find_libdeps(tmp_path / "t")
    res = by_name(result, x32)["libc.so.6"]
    assert (res.how, os.path.realpath(res.realpath)) == ("ld.so.cache", os.path.realpath("/libx32/libc.so.6"))
    assert result.package_names == ["libc6-x32"] and not result.warnings
    check = run([tool("find-libdeps"), "--check", tmp_path / "t"])
    assert (check.returncode, check.stderr) == (0, "")
