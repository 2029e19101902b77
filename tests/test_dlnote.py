"""Libraries named by FDO dlopen notes (ext/dlnote.c, ext/elf.c, ext/ldsearch.c): shared objects
built here with a .note.dlopen section laid out as the spec (and systemd's sd-dlopen.h) lays it
out, naming real libraries of this machine; find-libdeps --dlopen lists their packages by
priority, and without the flag nothing changes."""

from __future__ import annotations

import json

import pytest
from snakepack.libdeps import find_libdeps

from conftest import CC, run, tool

NOTE_C = r"""
#include <stdint.h>
#define JSON %s
struct note { uint32_t namesz, descsz, type; char name[4]; char desc[(sizeof JSON + 3) & ~3]; };
__attribute__((section(".note.dlopen"), used, aligned(4)))
static const struct note dlopen_note = {4, sizeof JSON, %s, "FDO", JSON};
int f(void) { return 1; }
"""


def c_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a C string literal for ASCII text


def with_note(tmp_path, payload, name="libplugin.so", note_type="0x407c0c0a"):
    """A shared object whose only dependency information is one FDO note of NOTE_TYPE."""
    if CC is None:
        pytest.skip("no C compiler")
    text = payload if isinstance(payload, str) else json.dumps(payload)
    src = tmp_path / f"{name}.c"
    src.write_text(NOTE_C % (c_string(text), note_type))
    out = tmp_path / "tree" / name
    out.parent.mkdir(exist_ok=True)
    r = run([CC, "-shared", "-fPIC", "-nostdlib", "-o", out, src])
    assert r.returncode == 0, r.stderr
    return out


FEATURES = [
    {"feature": "zlib", "description": "compression", "priority": "required", "soname": ["libz.so.1"]},
    {"feature": "bzip2", "description": "compression", "priority": "recommended", "soname": ["libbz2.so.1.0"]},
    {"feature": "xz", "description": "compression", "priority": "suggested", "soname": ["liblzma.so.5"]},
]


@pytest.mark.parametrize(
    "level, expected",
    [
        (None, set()),
        ("required", {"zlib1g"}),
        ("recommended", {"zlib1g", "libbz2-1.0"}),
        ("suggested", {"zlib1g", "libbz2-1.0", "liblzma5"}),
    ],
)
def test_dlopen_notes_are_followed_by_priority(tmp_path, level, expected):
    lib = with_note(tmp_path, FEATURES)
    result = find_libdeps(lib, dlopen=level)
    # libc6 and the like come with the libraries themselves: look at the notes' own packages
    assert {"zlib1g", "libbz2-1.0", "liblzma5"} & set(result.package_names) == expected
    assert not result.unresolved


def test_cli_without_dlopen_prints_what_it_printed_before(tmp_path):
    lib = with_note(tmp_path, FEATURES)
    r = run([tool("find-libdeps"), lib])
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    r = run([tool("find-libdeps"), "--dlopen", "required", lib])
    assert r.returncode == 0, r.stderr
    assert "zlib1g" in r.stdout.split() and "libbz2-1.0" not in r.stdout.split()


def test_json_says_which_note_named_a_library(tmp_path):
    lib = with_note(tmp_path, FEATURES)
    r = run([tool("find-libdeps"), "--json", "--dlopen", "required", lib])
    doc = json.loads(r.stdout)
    res = {x["name"]: x for f in doc["files"] for x in f["resolutions"]}
    assert res["libz.so.1"]["source"] == "dlopen note: zlib"
    assert res["libz.so.1"]["needed_by"] == str(lib)
    assert all(x["source"] == "DT_NEEDED" for n, x in res.items() if n != "libz.so.1")


def test_the_first_alternative_that_resolves_is_taken(tmp_path):
    lib = with_note(tmp_path, [{"feature": "xml", "soname": ["libsnakepack-absent.so.9", "libexpat.so.1"]}])
    result = find_libdeps(lib, dlopen="suggested")  # the spec's default priority: recommended
    assert "libexpat1" in result.package_names
    assert not result.unresolved
    assert [r.name for r in result.files[0].resolutions if r.source != "DT_NEEDED"] == ["libexpat.so.1"]


def test_a_note_none_of_whose_alternatives_exists_is_unresolved(tmp_path):
    lib = with_note(tmp_path, [{"priority": "required", "soname": ["libsnakepack-a.so.1", "libsnakepack-b.so.2"]}])
    r = run([tool("find-libdeps"), "--dlopen", "required", "--missing", "error", lib])
    assert r.returncode == 1
    assert f"libsnakepack-a.so.1 needed by {lib}: none of the 2 alternatives found" in r.stderr


@pytest.mark.parametrize(
    "payload",
    [
        '[{"soname": ["libz.so.1"], "priority": "urgent"}]',
        '[{"soname": ["libz.so.1"]}, {"soname": 5}]',
        '[{"soname": ["libz.so.1"]}',
    ],
)
def test_a_damaged_note_names_nothing_and_is_a_warning(tmp_path, payload):
    lib = with_note(tmp_path, payload)
    r = run([tool("find-libdeps"), "--dlopen", "suggested", lib])
    assert (r.returncode, r.stdout) == (0, "")  # not even the objects before the damage
    assert (
        r.stderr
        == f"find-libdeps: warning: {lib}: its FDO dlopen note is not a JSON array of {{soname: [...]}} objects: ignored\n"
    )
    r = run([tool("find-libdeps"), lib])  # not asked for: not looked at
    assert r.returncode == 0 and r.stderr == ""


def test_other_fdo_notes_are_not_dlopen_notes(tmp_path):
    # Debian's packaging metadata note: owner FDO too, type 0xcafe1a7e
    lib = with_note(
        tmp_path, {"type": "deb", "os": "debian", "name": "x", "soname": ["libz.so.1"]}, note_type="0xcafe1a7e"
    )
    result = find_libdeps(lib, dlopen="suggested")
    assert result.package_names == [] and result.warnings == []


def test_escapes_in_the_json_are_decoded(tmp_path):
    lib = with_note(tmp_path, r'[ {"soname" : ["lib\u007a.so.1"], "feature": "z\"\\", "x": [1, {"y": null}]} ]')
    result = find_libdeps(lib, dlopen="recommended")
    assert [(r.name, r.source) for r in result.files[0].resolutions if r.source != "DT_NEEDED"] == [
        ("libz.so.1", 'dlopen note: z"\\')
    ]
    assert "zlib1g" in result.package_names


def test_libraries_a_noted_library_needs_are_resolved_too(tmp_path, elf):
    # the note names a library of the tree, which needs a system one through DT_NEEDED
    plugin = elf.lib(tmp_path / "tree/libhelper.so.1", soname="libhelper.so.1", needed=["libbz2.so.1.0"])
    lib = with_note(tmp_path, [{"soname": ["libhelper.so.1"]}])
    result = find_libdeps(lib.parent, dlopen="recommended", ld_library_path=[str(plugin.parent)])
    assert "libbz2-1.0" in result.package_names
    assert result.bundled == [str(plugin)]
    note = [r for f in result.files if f.path == str(lib) for r in f.resolutions]
    assert [(r.name, r.needed_by, r.source) for r in note][:2] == [
        ("libhelper.so.1", str(lib), "dlopen note"),
        ("libbz2.so.1.0", str(plugin), "DT_NEEDED"),
    ]


def test_debian_13s_libsystemd_dlopen_notes(trixie_root):
    # systemd 257 declares the compression and crypto libraries it loads at run time
    lib = "/usr/lib/x86_64-linux-gnu/libsystemd.so.0"
    plain = find_libdeps(lib, root=trixie_root)
    noted = find_libdeps(lib, root=trixie_root, dlopen="suggested")
    assert {"liblz4-1", "liblzma5"} <= set(noted.package_names) - set(plain.package_names)
    sources = {r.name: r.source for f in noted.files for r in f.resolutions}
    assert sources["liblz4.so.1"] == "dlopen note: lz4"
