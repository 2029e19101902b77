"""Library names in Python sources (ext/pysrc.c, the source walk of ext/walk.c, the source
trees of ext/ldsearch.c): modules written here that hand string literals to ctypes and cffi, as
real packages do, resolved against this machine's ld.so.cache and dpkg database with
find-libdeps --dlopen. Nothing is imported or run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from snakepack.libdeps import find_libdeps, why

from conftest import CC, run, tool


def owner(soname: str) -> str:
    """The package that ships SONAME on this machine (libmagic1 on Debian 12, libmagic1t64 on
    13), as dpkg says; "" when none does."""
    r = run(["dpkg-query", "-S", f"*/{soname}"])
    return r.stdout.split(":")[0] if r.returncode == 0 else ""


MAGIC, GLIB = owner("libmagic.so.1"), owner("libgobject-2.0.so.0")


def tree(tmp_path, **modules: str | bytes):
    """A package directory holding MODULES (name -> source text) under tmp_path/tree/pkg."""
    pkg = tmp_path / "tree" / "pkg"
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in modules.items():
        (pkg / f"{name}.py").write_bytes(text if isinstance(text, bytes) else text.encode())
    return tmp_path / "tree"


def python_resolutions(result):
    return [r for f in result.files for r in f.resolutions if r.source.startswith("python: ")]


def test_find_library_literal_lists_its_package_only_with_dlopen(tmp_path):
    t = tree(tmp_path, magic="import ctypes.util\n\nlib = ctypes.util.find_library('magic')\n")
    assert MAGIC and MAGIC not in find_libdeps(t).package_names
    result = find_libdeps(t, dlopen="required")
    assert MAGIC in result.package_names
    (r,) = python_resolutions(result)
    assert r.name == "magic" and r.realpath.endswith("/libmagic.so.1.0.0")
    assert r.source == f"python: ctypes.util.find_library(), as libmagic.so.1 at {t}/pkg/magic.py:3"
    # what libmagic itself needs comes along, from its own DT_NEEDED entries
    assert "zlib1g" in result.package_names


def test_cffi_dlopen_of_a_windows_spelling_finds_the_linux_library(tmp_path):
    # cffi would try dlopen('gobject-2.0-0') and find_library('gobject-2.0-0'), which both fail
    # on Linux; the name stands for libgobject-2.0.so.0 (MinGW's libgobject-2.0-0.dll)
    t = tree(tmp_path, text='from cffi import FFI\nffi = FFI()\ngobject = ffi.dlopen("gobject-2.0-0")\n')
    result = find_libdeps(t, dlopen="suggested")
    (r,) = python_resolutions(result)
    assert r.name == "gobject-2.0-0" and r.path.endswith("/libgobject-2.0.so.0")
    assert "a name variant" in r.source and r.source.endswith("text.py:3")
    assert GLIB and GLIB in result.package_names


def test_first_alternative_that_loads_counts_as_at_run_time(tmp_path):
    # WeasyPrint's wrapper: the names are tried in order, the first that loads is kept
    t = tree(
        tmp_path,
        ffi="""
def _dlopen(ffi, *names):
    for name in names:
        return ffi.dlopen(name)

gobject = _dlopen(
    ffi, 'libgobject-2.0-0', 'gobject-2.0-0', 'gobject-2.0',
    'libgobject-2.0.so.0', 'libgobject-2.0.dylib', 'libgobject-2.0-0.dll')
""",
    )
    result = find_libdeps(t, dlopen="required")
    (r,) = python_resolutions(result)
    # 'gobject-2.0' is the first that find_library answers (with libgobject-2.0.so.0)
    assert r.name == "gobject-2.0" and r.path.endswith("/libgobject-2.0.so.0")
    assert r.source.startswith("python: _dlopen(), as libgobject-2.0.so.0 at ") and "variant" not in r.source
    assert r.source.endswith("ffi.py:6")


def test_ctypes_cdll_and_load_library_load_the_name_as_given(tmp_path):
    t = tree(
        tmp_path,
        a="import ctypes\nlibc = ctypes.CDLL('libc.so.6', use_errno=True)\n",
        b="from ctypes import cdll\nz = cdll.LoadLibrary(name='libz.so.1')\n",
    )
    result = find_libdeps(t, dlopen="required")
    got = {r.name: r for r in python_resolutions(result)}
    assert set(got) == {"libc.so.6", "libz.so.1"}
    assert got["libc.so.6"].source.startswith("python: ctypes.CDLL() at ")
    assert got["libz.so.1"].packages[0].name == "zlib1g"


def test_names_that_are_no_calls_or_no_literals_count_for_nothing(tmp_path):
    t = tree(
        tmp_path,
        quiet='''
"""Call ctypes.CDLL('libz.so.1') to load it."""
# ctypes.CDLL('libbz2.so.1.0')
def find_library(name='liblzma.so.5'):
    return ctypes.CDLL(name)
class CDLL('libz.so.1'): pass
x = "ffi.dlopen('libz.so.1')"
ctypes.CDLL('lib%s.so' % 'z')
ctypes.CDLL(f'libz.so.{1}')
ctypes.CDLL('libz' + '.so.1')
ctypes.CDLL(os.path.join(here, 'libz.so.1'))
ctypes.CDLL
''',
    )
    assert python_resolutions(find_libdeps(t, dlopen="suggested")) == []


def test_literals_concatenate_and_calls_nest(tmp_path):
    t = tree(
        tmp_path,
        nest="import ctypes, ctypes.util\n"
        "libc = ctypes.CDLL(ctypes.util.find_library(\n    'c'))\n"
        "z = ctypes.CDLL('libz'\n  '.so.1')\n"
        "b = ctypes.CDLL(r'libbz2.so.1.0')  # a raw string\n",
    )
    got = {(r.name, r.source.rsplit(":", 1)[1]) for r in python_resolutions(find_libdeps(t, dlopen="required"))}
    assert got == {("c", "2"), ("libz.so.1", "4"), ("libbz2.so.1.0", "6")}


def test_another_platforms_name_is_in_json_but_no_warning(tmp_path):
    t = tree(tmp_path, win="import ctypes\nmsvcrt = ctypes.CDLL('msvcrt')\n")
    result = find_libdeps(t, dlopen="required")
    (r,) = python_resolutions(result)
    assert not r.resolved and r.error == "not found"
    assert result.unresolved == []
    cli = run([tool("find-libdeps"), "--dlopen", "required", "--missing", "error", t])
    assert cli.returncode == 0 and cli.stderr == ""


def test_a_name_is_found_at_every_offset_of_the_vector_scan(tmp_path):
    # the prefilter tests 64 bytes at a time and checks the last ones one by one: a call must
    # be seen wherever it starts (each offset of a 64-byte block, twice over), and also when
    # it is the file's very last bytes
    modules = {}
    for size in range(0, 140):
        pad = ("#" * (size - 1) + "\n") if size else ""
        modules[f"a{size}"] = f"{pad}ctypes.CDLL('libz.so.1')"
        modules[f"b{size}"] = f"{pad}find_library('bz2')\n"
        modules[f"c{size}"] = f"{pad}lib = ffi.dlopen('libbz2.so.1.0')"
        modules[f"d{size}"] = f"{pad}cdll.LoadLibrary('libz.so.1')\n"
    t = tree(tmp_path, **modules)
    seen = {r.needed_by.rsplit("/", 1)[1][:-3] for r in python_resolutions(find_libdeps(t, dlopen="required"))}
    assert seen == set(modules)


def test_undecodable_and_broken_sources_are_read_without_harm(tmp_path):
    t = tree(
        tmp_path,
        latin=b"# \xe9\xff\nimport ctypes\nctypes.CDLL('libz.so.1')\ns = '\xff\n",
        open_string="ctypes.CDLL('libz.so.1')\nx = '''never closed\nctypes.CDLL('libbz2.so.1.0')\n",
        deep="ctypes.CDLL(" + "(" * 5000 + "'libz.so.1'",
        fstring="x = f'{ctypes.CDLL(\"libbz2.so.1.0\")}'\nctypes.CDLL('libz.so.1')\n",
    )
    got = {(r.needed_by.rsplit("/", 1)[1], r.name) for r in python_resolutions(find_libdeps(t, dlopen="required"))}
    assert ("latin.py", "libz.so.1") in got and ("open_string.py", "libz.so.1") in got
    assert ("open_string.py", "libbz2.so.1.0") not in got  # inside a string
    assert ("fstring.py", "libz.so.1") in got  # the f-string did not derail the lexer


def test_json_and_why_say_which_line_asked_for_the_library(tmp_path):
    t = tree(tmp_path, magic="\n\nimport ctypes.util\nctypes.util.find_library('magic')\n")
    r = run([tool("find-libdeps"), "--json", "--dlopen", "required", t])
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (f,) = [f for f in doc["files"] if f["path"].endswith("magic.py")]
    assert f["resolutions"][0]["source"].endswith("magic.py:4")
    chains = why(find_libdeps(t, dlopen="required"), MAGIC)
    assert chains and chains[0].startswith(
        f"{t}/pkg/magic.py -> magic (python: ctypes.util.find_library(), as libmagic.so.1 at "
    )


def test_sources_under_a_root_resolve_in_that_root(debian_root, tmp_path):
    # the module lies inside the root; its library is looked up in the root's ld.so.cache
    work = debian_root / "tmp" / f"pysrc-{tmp_path.name}"
    work.mkdir(parents=True)
    try:
        (work / "z.py").write_text("import ctypes.util\nctypes.util.find_library('z')\n")
        result = find_libdeps(f"/tmp/{work.name}", root=debian_root, dlopen="required")
        (r,) = python_resolutions(result)
        assert r.realpath.startswith("/usr/lib/x86_64-linux-gnu/libz.so.1") and not r.realpath.startswith(
            str(debian_root)
        )
        assert r.needed_by == f"/tmp/{work.name}/z.py"
        assert "zlib1g" in result.package_names
    finally:
        shutil.rmtree(work)


SECCOMP_C = r"""
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
/* Runs argv[1...] where openat2 fails with ENOSYS, as under an old kernel or seccomp profile. */
int main(int argc, char **argv)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return 126;
    execv(argv[1], argv + 1);
    return 127;
}
"""


def test_sources_are_read_the_same_where_openat2_is_refused(tmp_path):
    if CC is None:
        pytest.skip("no C compiler")
    (tmp_path / "noopenat2.c").write_text(SECCOMP_C)
    launcher = tmp_path / "noopenat2"
    assert run([CC, "-o", launcher, tmp_path / "noopenat2.c"]).returncode == 0
    t = tree(tmp_path, magic="ctypes.util.find_library('magic')\n", z="ctypes.CDLL('libz.so.1')\n")
    (t / "pkg" / "sub" / "deeper").mkdir(parents=True)
    (t / "pkg" / "sub" / "deeper" / "bz.py").write_text("ffi.dlopen('libbz2.so.1.0')\n")
    cmd = [tool("find-libdeps"), "--json", "--dlopen", "required", t]
    normal = run(cmd)
    refused = run(["strace", "-f", "-e", "trace=openat2", "-o", tmp_path / "trace", launcher, *cmd])
    assert normal.returncode == refused.returncode == 0, normal.stderr + refused.stderr
    assert json.loads(normal.stdout) == json.loads(refused.stdout)
    assert {MAGIC, "zlib1g", "libbz2-1.0"} <= {p["name"] for p in json.loads(normal.stdout)["packages"]}
    # openat2 was tried, refused each time, and every path was resolved component by component
    trace = (tmp_path / "trace").read_text()
    assert 1 <= trace.count("openat2(") == trace.count("ENOSYS")


def found(result) -> set[tuple[str, int, str, str]]:
    """(module, line, callee, name) of each library name the Python sources gave."""
    out = set()
    for r in python_resolutions(result):
        feature, _, where = r.source[len("python: ") :].rpartition(" at ")
        out.add((r.needed_by.rsplit("/", 1)[1][:-3], int(where.rsplit(":", 1)[1]), feature.split("(", 1)[0], r.name))
    return out


# Replacement fields whose format spec holds a quote or a bracket, and the other forms of a field.
FIELDS = [
    "d:%b '%y",
    "v:'>10",
    "v:(>10",
    "v:[^10",
    'v:">10',
    "v:{w}",
    "v:>{w}.{p}",
    "v!r:'^{w}",
    "v=!r:(>4",
    "v:{'>'}{w}",
    "v:{{w}}",
]


@pytest.mark.parametrize("field", FIELDS)
def test_a_format_spec_is_text_up_to_its_brace(tmp_path, field):
    q = "'" if '"' in field else '"'
    t = tree(tmp_path, spec=f"label = f{q}{{{field}}}{q}\nctypes.CDLL('libz.so.1')\n")
    result = find_libdeps(t, dlopen="required")
    assert found(result) == {("spec", 2, "ctypes.CDLL", "libz.so.1")}
    assert not result.warnings


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_and_continuations_are_read_as_python_reads_them(tmp_path, ending):
    # Line 1 starts a string that a backslash continues onto line 2, where it holds text that
    # looks like a call; the call on line 3 goes on to line 4 after a backslash.
    source = 'x = "a\\\nctypes.CDLL(\'libbz2.so.1.0\')"\nctypes.CDLL \\\n("libz.so.1")\n'
    t = tree(tmp_path, endings=source.replace("\n", ending))
    assert found(find_libdeps(t, dlopen="required")) == {("endings", 3, "ctypes.CDLL", "libz.so.1")}


def test_no_limit_short_of_pythons_changes_the_answer(tmp_path):
    t = tree(
        tmp_path,
        many="".join("ctypes.CDLL('libz.so.1')\n" for _ in range(5000)) + "ctypes.CDLL('libbz2.so.1.0')\n",
        nested="ctypes.CDLL(" * 30 + "'libbz2.so.1.0'" + ")" * 30 + "\n",
        names="ctypes.CDLL(" + ", ".join(f"'lib{n}.so'" for n in range(100)) + ", 'libz.so.1')\n",
    )
    got = found(find_libdeps(t, dlopen="required"))
    assert ("many", 5001, "ctypes.CDLL", "libbz2.so.1.0") in got
    assert ("nested", 1, "ctypes.CDLL", "libbz2.so.1.0") in got
    assert ("names", 1, "ctypes.CDLL", "libz.so.1") in got  # the 101st name, the one that loads


def test_nesting_deeper_than_python_allows_is_a_warning(tmp_path):
    t = tree(tmp_path, deep="x = " + "(" * 250 + "1" + ")" * 250 + "\nctypes.CDLL('libz.so.1')\n")
    result = find_libdeps(t, dlopen="required")
    assert found(result) == {("deep", 2, "ctypes.CDLL", "libz.so.1")}
    assert [w for w in result.warnings if "deep.py" in w] == [
        f"{t}/pkg/deep.py: brackets or f-strings nested deeper than Python allows: what lies deeper not scanned for library names"
    ]


def test_call_forms_python_accepts_and_the_callee_as_python_reads_it(tmp_path):
    source = (
        "ctypes.CDLL(('libz' '.so.1'))\n"  # 1: a literal in parentheses, concatenated
        "(ctypes.CDLL)('libbz2.so.1.0')\n"  # 2: a callee in parentheses
        "ctypes.ＣＤＬＬ('libz.so.1')\n"  # 3: NFKC makes it CDLL
        "ctypes.util.ﬁnd_library('z')\n"  # 4: and this find_library
        "(ctypes  # c.CDLL\n .CDLL)('libz.so.1')\n"  # 5: a comment inside the callee
        "ctypes.CDLL(('libz.so.1', 'x'))\n"  # 7: a tuple is no literal
        "f'{ctypes.CDLL(\"libbz2.so.1.0\")}'\n"  # 8: a call inside an f-string's field
    )
    t = tree(tmp_path, forms=b"\xef\xbb\xbf" + source.encode())  # 1: after a byte-order mark
    assert found(find_libdeps(t, dlopen="required")) == {
        ("forms", 1, "ctypes.CDLL", "libz.so.1"),
        ("forms", 2, "ctypes.CDLL", "libbz2.so.1.0"),
        ("forms", 3, "ctypes.CDLL", "libz.so.1"),
        ("forms", 4, "ctypes.util.find_library", "z"),
        ("forms", 5, "ctypes.CDLL", "libz.so.1"),
        ("forms", 8, "ctypes.CDLL", "libbz2.so.1.0"),
    }


@pytest.mark.needs("root")  # a mount namespace
def test_a_source_read_short_is_reported_not_scanned(tmp_path):
    # sysfs gives its files a size of 4096 bytes and fewer bytes to read: bound onto a module,
    # such a file is read as a source that shrank while it was read, for real.
    t = tree(tmp_path, short="")
    module = t / "pkg" / "short.py"
    script = 'mount --bind /sys/class/net/lo/address "$1" && exec "$2" --dlopen required "$3"'
    r = run(["unshare", "--mount", "sh", "-c", script, "sh", module, tool("find-libdeps"), t])
    assert r.returncode == 0, r.stderr
    assert (
        f"find-libdeps: warning: {module}: 18 of its 4096 bytes read (it shrank): not scanned for library names\n"
        in r.stderr
    )


def test_the_nfkc_table_is_what_the_unicode_database_makes():
    r = run([sys.executable, Path(__file__).resolve().parent.parent / "scripts/gen-nfkc", "--check"])
    assert r.returncode == 0, r.stderr
