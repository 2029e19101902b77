"""The loader's configuration under a root (ext/ldconfig.c): ld.so.conf and its includes, each
file parsed once whatever the includes say, and the ld.so.cache parser on hostile files."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from snakepack import find_libdeps

from conftest import by_name, run, write_status


def conf_root(elf, tmp_path, files: dict[str, str]):
    root = tmp_path / "root"
    elf.lib(root / "app/x.so", needed=["libq.so.1"])
    elf.lib(root / "opt/q/libq.so.1", soname="libq.so.1")
    write_status(root, {})
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def traced(root, names: list[str], tmp_path) -> dict[str, tuple[int, int]]:
    """For each of NAMES, how often one find_libdeps run opens ROOT/NAME and how many of its
    reads of it return data (the files are small: one such read is one parse), by strace."""
    logs = tmp_path / "strace"
    logs.mkdir()
    code = f"from snakepack import find_libdeps; find_libdeps('/app', root={str(root)!r})"
    # -ff: a log per thread, so that no call is split across lines
    r = run(["strace", "-ff", "-qq", "-y", "-e", "trace=openat,read", "-o", logs / "log", sys.executable, "-c", code])
    assert r.returncode == 0, r.stderr
    lines = [line for log in logs.iterdir() for line in log.read_text().splitlines()]
    counts = {}
    for name in names:
        path = re.escape(str(root / name))
        # by the descriptor it returns: opened by name, or reopened through /proc/self/fd
        opens = sum(1 for line in lines if re.search(rf"openat\(.* = \d+<{path}>$", line))
        reads = sum(1 for line in lines if re.search(rf"read\(\d+<{path}>.* = [1-9]\d*$", line))
        counts[name] = (opens, reads)
    return counts


def test_a_file_including_itself_is_parsed_once(elf, tmp_path):
    root = conf_root(elf, tmp_path, {"etc/ld.so.conf": "include ./ld.so.conf ./ld.so.conf ./ld.so.conf\n/opt/q\n"})
    result = find_libdeps("/app", root=root)
    assert by_name(result, "/app/x.so")["libq.so.1"].how == "ld.so.conf"
    assert result.warnings == ["/etc/./ld.so.conf: include loop in ld.so.conf: ignored"]
    # parsed once; opened once to read, and once per include word to learn it is the same file
    ((opens, reads),) = traced(root, ["etc/ld.so.conf"], tmp_path).values()
    assert reads == 1
    assert 1 <= opens <= 4


def test_files_including_each_other_are_each_parsed_once(elf, tmp_path):
    files = {f"etc/ld.so.conf.d/{i}.conf": "include *.conf ../ld.so.conf\n" for i in range(8)}
    files["etc/ld.so.conf"] = "include ld.so.conf.d/*.conf\n/opt/q\n"
    root = conf_root(elf, tmp_path, files)
    result = find_libdeps("/app", root=root)
    assert by_name(result, "/app/x.so")["libq.so.1"].how == "ld.so.conf"
    loops = [f"/etc/ld.so.conf.d/{i}.conf" for i in range(8)] + ["/etc/ld.so.conf.d/../ld.so.conf"]
    assert result.warnings == [f"{name}: include loop in ld.so.conf: ignored" for name in loops]
    counts = traced(root, [f"etc/ld.so.conf.d/{i}.conf" for i in range(8)], tmp_path)
    for name, (opens, reads) in counts.items():
        assert reads == 1, f"{name} parsed {reads} times"
        assert 1 <= opens <= 9


def test_include_patterns_match_like_glob_in_sorted_order(elf, tmp_path):
    root = conf_root(
        elf,
        tmp_path,
        {
            "etc/ld.so.conf": "include d*/[ab]?.conf # comment\n",
            "etc/d1/b1.conf": "/opt/second\n",
            "etc/d1/a1.conf": "/opt/q\n",
            "etc/d1/c1.conf": "/opt/never\n",
            "etc/d1/.a2.conf": "/opt/hidden\n",
        },
    )
    elf.lib(root / "opt/second/libq.so.1", soname="libq.so.1")
    res = by_name(find_libdeps("/app", root=root), "/app/x.so")["libq.so.1"]
    assert res.realpath == "/opt/q/libq.so.1"  # a1.conf comes first


def test_a_fifo_named_by_an_include_is_skipped(elf, tmp_path):
    root = conf_root(elf, tmp_path, {"etc/ld.so.conf": "include /etc/conf.d/*\n", "etc/conf.d/q.conf": "/opt/q\n"})
    os.mkfifo(root / "etc/conf.d/pipe")
    result = find_libdeps("/app", root=root)
    assert result.warnings == ["/etc/conf.d/pipe: not a regular file: ignored"]
    assert by_name(result, "/app/x.so")["libq.so.1"].how == "ld.so.conf"


def test_truncated_and_garbage_caches_fall_back_to_ld_so_conf(elf, tmp_path):
    real = Path("/etc/ld.so.cache").read_bytes()
    for name, data in [
        ("empty", b""),
        ("magic only", b"glibc-ld.so.cache1.1"),
        ("truncated", real[:100]),
        ("garbage", bytes(range(256)) * 8),
    ]:
        root = conf_root(elf, tmp_path / name, {"etc/ld.so.conf": "/opt/q\n"})
        (root / "etc/ld.so.cache").write_bytes(data)
        result = find_libdeps("/app", root=root)
        assert by_name(result, "/app/x.so")["libq.so.1"].how == "ld.so.conf", name
        assert len(result.warnings) == 1 and result.warnings[0].startswith("/etc/ld.so.cache: "), (
            name,
            result.warnings,
        )
