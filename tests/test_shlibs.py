"""Minimum package versions (snakepack/shlibs.py, find-libdeps --versions): libraries and
objects built by the C compiler, in roots whose dpkg database holds the symbols and shlibs files
the test writes in Debian's formats; the machine's own symbols files; a damaged file named in a
warning, never a traceback. tests/test_shlibs_judge.py holds the comparison with dpkg-shlibdeps."""

from __future__ import annotations

import glob
import json
import subprocess
import sysconfig

import pytest
from snakepack.libdeps import find_libdeps
from snakepack.shlibs import Damaged, _SymbolsParse, minimum_versions, parse_symbols, shlibs_dependency, split_soname

from conftest import CC, run, tool, write_status

TRIPLET = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
LIBDIR = f"usr/lib/{TRIPLET}"


def arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() or "amd64"


def cc(tmp_path, args, code: str):
    if CC is None:
        pytest.skip("no C compiler")
    src = tmp_path / f"src{len(list(tmp_path.glob('src*.c')))}.c"
    src.write_text(code)
    r = run([CC, "-fPIC", "-shared", "-nostdlib", "-Wl,--no-as-needed", src, *args])
    assert r.returncode == 0, r.stderr


class Root:
    """A root holding libfoo.so.1 (package libfoo1, which defines foo, bar and baz) and, when
    asked, libbar.so.1 (package libbar1: bar1, bar2), and app/mod.so; its dpkg database holds the
    control files given."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.path = tmp_path / "root"
        self.info = self.path / "var/lib/dpkg/info"
        self.packages: dict[str, tuple[str, list[str]]] = {}

    def library(self, soname: str, package: str, code: str, links=()) -> str:
        lib = self.path / LIBDIR / soname
        lib.parent.mkdir(parents=True, exist_ok=True)
        cc(self.tmp, [f"-Wl,-soname,{soname}", "-o", lib, *links], code)
        self.packages[package] = (arch(), [f"/{LIBDIR}/{soname}"])
        write_status(self.path, self.packages)
        return str(lib)

    def foo(self, links=(), code="") -> str:
        return self.library(
            "libfoo.so.1",
            "libfoo1",
            code + "int foo(void){return 1;} int bar(void){return 2;} int baz(void){return 3;}",
            links,
        )

    def barlib(self) -> str:
        return self.library("libbar.so.1", "libbar1", "int bar1(void){return 1;} int bar2(void){return 2;}")

    def module(self, code: str, *links: str) -> None:
        mod = self.path / "app/mod.so"
        mod.parent.mkdir(parents=True, exist_ok=True)
        cc(self.tmp, ["-o", mod, *links], code)

    def control(self, name: str, text: str) -> None:
        (self.info / name).write_text(text)

    def versions(self):
        result = find_libdeps("/app", root=self.path, symbols=True, versions=False)
        return minimum_versions(result)

    def lines(self) -> list[str]:
        found, warnings = self.versions()
        assert warnings == []
        return [m.depends for m in found]


USES_FOO_BAR = "int foo(void); int bar(void); int f(void){return foo() + bar();}"
FOO_SYMBOLS = (
    "libfoo.so.1 libfoo1 #MINVER#\n* Build-Depends-Package: libfoo-dev\n foo@Base 1.0\n bar@Base 1.2\n baz@Base 2.0\n"
)


@pytest.fixture
def root(tmp_path) -> Root:
    return Root(tmp_path)


def test_minimum_is_the_highest_minimum_of_the_symbols_used(root):
    root.module(USES_FOO_BAR, root.foo())
    root.control("libfoo1.symbols", FOO_SYMBOLS)
    assert root.lines() == ["libfoo1 (>= 1.2)"]


def test_a_library_linked_but_unused_gets_its_smallest_version(root):
    root.module("int f(void){return 0;}", root.foo())
    root.control("libfoo1.symbols", FOO_SYMBOLS)
    assert root.lines() == ["libfoo1 (>= 1.0)"]


def test_multiarch_same_symbols_file_is_read_under_its_qualified_name(root):
    root.module(USES_FOO_BAR, root.foo())
    root.control(f"libfoo1:{arch()}.symbols", FOO_SYMBOLS.replace("1.2", "1.3"))
    assert root.lines() == ["libfoo1 (>= 1.3)"]


def test_a_symbol_names_an_alternative_template(root):
    root.module(USES_FOO_BAR, root.foo())
    root.control(
        "libfoo1.symbols",
        "libfoo.so.1 libfoo1 #MINVER#\n| libfoo1 (>> 1.2), libfoo1 (<< 1.3)\n foo@Base 1.0\n bar@Base 1.2 1\n",
    )
    assert root.lines() == ["libfoo1 (<< 1.3)", "libfoo1 (>= 1.0)", "libfoo1 (>> 1.2)"]


def test_a_deprecated_symbol_answers_no_lookup(root):
    root.module(USES_FOO_BAR, root.foo())
    # bar is listed as missing since 1.5: the module's bar binds to nothing the file promises
    root.control("libfoo1.symbols", "libfoo.so.1 libfoo1 #MINVER#\n foo@Base 1.1\n#MISSING: 1.5# bar@Base 1.4\n")
    assert root.lines() == ["libfoo1 (>= 1.1)"]


def test_without_symbols_the_shlibs_dependency_is_taken_as_it_stands(root):
    root.module(USES_FOO_BAR, root.foo())
    root.control("libfoo1.shlibs", "udeb: libfoo 1 libfoo1-udeb\nlibfoo 1 libfoo1 (>= 1.0-3) | libfoo-alt\n")
    assert root.lines() == ["libfoo1 (>= 1.0-3) | libfoo-alt"]


def test_without_symbols_or_shlibs_the_package_stands_unversioned(root):
    root.module(USES_FOO_BAR, root.foo())
    assert root.lines() == ["libfoo1"]


def test_a_package_only_libraries_need_gets_their_minimum(root):
    # libfoo1's library uses bar2 (libbar1 2.0); the module uses bar1 (1.0) and foo
    bar = root.barlib()
    root.module(
        "int foo(void); int bar1(void); int f(void){return foo() + bar1();}",
        root.foo([bar], "int bar2(void); int g(void){return bar2();}"),
        bar,
    )
    root.control("libfoo1.symbols", FOO_SYMBOLS)
    root.control("libbar1.symbols", "libbar.so.1 libbar1 #MINVER#\n bar1@Base 1.0\n bar2@Base 2.0\n")
    found, _ = root.versions()
    # as dpkg-shlibdeps would for the module: libbar1 (>= 1.0), not the 2.0 libfoo1 needs
    assert [(m.depends, m.direct) for m in found] == [("libbar1 (>= 1.0)", True), ("libfoo1 (>= 1.0)", True)]
    root.module(
        "int foo(void); int f(void){return foo();}", root.foo([bar], "int bar2(void); int g(void){return bar2();}")
    )
    found, _ = root.versions()
    assert [(m.depends, m.direct) for m in found] == [("libbar1 (>= 2.0)", False), ("libfoo1 (>= 1.0)", True)]


@pytest.mark.parametrize(
    "name, text, where",
    [
        ("libfoo1.symbols", "libfoo.so.1 libfoo1 #MINVER#\n foo@Base 1.0\n bar@Base\n", "libfoo1.symbols:3:"),
        ("libfoo1.symbols", "libfoo.so.1 libfoo1 #MINVER#\n foo@Base 1.0\n bar@Base v@1\n", "libfoo1.symbols:3:"),
        ("libfoo1.symbols", " foo@Base 1.0\n", "libfoo1.symbols:1:"),
        ("libfoo1.symbols", "libfoo.so.1 libfoo1 #MINVER#\n foo@Base 1.0 2\n", "a symbol names dependency template 2"),
        ("libfoo1.symbols", "libfoo.so.1\n foo@Base 1.0\n", "libfoo1.symbols:1:"),
        ("libfoo1.symbols", b"libfoo.so.1 libfoo1 #MINVER#\n foo@Base \xff\n", "not a text file"),
        ("libfoo1.shlibs", "libfoo\n", "libfoo1.shlibs:1:"),
    ],
)
def test_a_damaged_control_file_is_named_and_its_versions_left_out(root, name, text, where):
    root.module(USES_FOO_BAR, root.foo())
    (root.info / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    found, warnings = root.versions()
    assert [m.depends for m in found] == ["libfoo1"]
    assert len(warnings) == 1 and where in warnings[0] and "ignored" in warnings[0], warnings
    r = run([tool("find-libdeps"), "--versions", "--root", root.path, "/app"])
    assert (r.returncode, r.stdout) == (0, "libfoo1\n")
    assert where in r.stderr and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


def test_find_libdeps_versions_prints_and_adds_to_json(root):
    root.module(USES_FOO_BAR, root.foo())
    root.control("libfoo1.symbols", FOO_SYMBOLS)
    r = run([tool("find-libdeps"), "--versions", "--root", root.path, "/app"])
    assert (r.returncode, r.stdout, r.stderr) == (0, "libfoo1 (>= 1.2)\n", "")
    r = run([tool("find-libdeps"), "--versions", "--json", "--root", root.path, "/app"])
    doc = json.loads(r.stdout)
    assert doc["versions"] == [{"depends": "libfoo1 (>= 1.2)", "packages": ["libfoo1"], "direct": True}]
    r = run([tool("find-libdeps"), "--versions", "--check", "--root", root.path, "/app"])
    assert r.returncode == 2 and "--versions" in r.stderr and "Traceback" not in r.stderr


def test_undefined_symbols_are_read_as_objdump_shows_them(tmp_path):
    """The C reader (ext/libdeps/dynsym.c) against objdump -T, which dpkg-shlibdeps reads, on an
    object built here that takes versioned symbols from libc and an unversioned one."""
    lib = tmp_path / "libuses.so"
    if CC is None:
        pytest.skip("no C compiler")
    (tmp_path / "u.c").write_text(
        "#include <sys/random.h>\n#include <stdio.h>\nextern int unversioned_elsewhere(void);\n"
        "int f(char *b){ puts(b); return (int)getrandom(b, 4, 0) + unversioned_elsewhere(); }\n"
    )
    r = run([CC, "-shared", "-fPIC", "-o", lib, tmp_path / "u.c"])
    assert r.returncode == 0, r.stderr
    result = find_libdeps(lib, symbols=True, versions=False)
    ours = set(result.undefined[str(lib)])
    objdump = set()
    for line in run(["objdump", "-T", lib]).stdout.splitlines():
        fields = line.split()
        if "*UND*" in fields:
            version = fields[-2].strip("()") if len(fields) == fields.index("*UND*") + 4 else "Base"
            objdump.add(f"{fields[-1]}@{version}")
    assert {"getrandom@GLIBC_2.25", "puts@GLIBC_2.2.5", "unversioned_elsewhere@Base"} <= ours
    assert ours == objdump
    found, _ = minimum_versions(result)
    assert "libc6 (>= 2.25)" in [m.depends for m in found]


def test_bulk_reading_equals_reading_line_by_line():
    """Every symbols file of this machine's dpkg database, read as parse_symbols reads it (plain
    symbol lines in bulk) and line by line."""
    paths = glob.glob("/var/lib/dpkg/info/*.symbols")
    if not paths:
        pytest.skip("no symbols files in this machine's dpkg database")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        slow = _SymbolsParse(path)
        for number, line in enumerate(text.split("\n"), 1):
            slow.line(line, number)
        fast = parse_symbols(text, path)
        assert {k: (v.templates, v.plain, v.other) for k, v in fast.items()} == {
            k: (v.templates, v.plain, v.other) for k, v in slow.done().items()
        }, path


def test_parse_symbols_names_the_damaged_line():
    text = "libfoo.so.1 libfoo1 #MINVER#\n foo@Base 1.0\n\n bar@Base 1.0 x\n baz@Base 1.0\n"
    with pytest.raises(Damaged, match=r"^f:4: "):
        parse_symbols(text, "f")
    # a line of another length shifts a name into the versions: refused
    with pytest.raises(Damaged):
        parse_symbols("libfoo.so.1 libfoo1 #MINVER#\n foo@Base\n bar@Base 1.0 1\n", "f")


def test_shlibs_dependency_prefers_a_deb_line_and_skips_udeb():
    text = "# comment\nlibfoo 1 libfoo1 (>= 1)\nudeb: libfoo 1 libfoo1-udeb\ndeb: libfoo 1 libfoo1 (>= 2)\n"
    assert shlibs_dependency(text, "f", "libfoo.so.1") == "libfoo1 (>= 2)"
    assert shlibs_dependency("libfoo-2.0 0 libfoo-2.0-0\n", "f", "libfoo-2.0.so.0") == "libfoo-2.0-0"
    assert (
        shlibs_dependency("libbfd 2.40-system libbinutils (>= 2.40)\n", "f", "libbfd-2.40-system.so")
        == "libbinutils (>= 2.40)"
    )
    assert shlibs_dependency("libfoo 1 libfoo1\n", "f", "libfoo.so.2") is None
    assert split_soname("libc.so") is None
