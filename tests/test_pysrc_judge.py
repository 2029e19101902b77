"""find-libdeps --dlopen's reading of Python sources (ext/pysrc.c) judged by Python's own parser
(tests/pysrc_judge.py, run by the Python 3.13 of the Debian 13 root the suite makes): the same
(file, line, callee, names) over every .py file of the test environment and of Debian's
dist-packages, and over a corpus of tricky sources generated here. Both the C core's own answer
(every name of every call) and find-libdeps --dlopen suggested --json (the call, and the name that
counts) are compared."""

from __future__ import annotations

import glob
import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest
from snakepack._native import _core

from conftest import SANITIZED, run, tool

JUDGE = Path(__file__).with_name("pysrc_judge.py")
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
MIN_CORPUS = 5000


def judge(root: Path, paths: list[str]) -> dict:
    """The judge's document for PATHS, run by ROOT's newest Python, under ROOT's own loader and
    libraries (the host's libc may be older than the one it was built for)."""
    python = max(
        glob.glob(f"{root}/usr/bin/python3.[0-9]*"),
        key=lambda p: int(p.rsplit(".", 1)[1].split("-")[0] if p[-1].isdigit() else 0),
    )
    loader = glob.glob(f"{root}/lib*/ld-linux*.so.*")[0]
    libs = ":".join(glob.glob(f"{root}/usr/lib/*-linux-gnu"))
    r = run([loader, "--library-path", libs, python, "-I", JUDGE], input="".join(f"{p}\n" for p in paths), timeout=900)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def by_core(paths: list[str]) -> set[tuple]:
    """(file, line, callee, names) of every call the C core's lexer finds in PATHS."""
    calls = set()
    for path in paths:
        with open(path, "rb") as f:
            _, found = _core.python_calls(f.read())
        calls |= {(path, line, callee, tuple(names)) for line, callee, _, names in found}
    return calls


def by_find_libdeps(trees: list[str]) -> set[tuple]:
    """(file, line, callee, name) of every Python call in find-libdeps --dlopen suggested --json
    over TREES: the name is the one that loaded, else the first."""
    r = run([tool("find-libdeps"), "--dlopen", "suggested", "--json", "--missing", "ignore", *trees], timeout=900)
    assert r.returncode == 0, r.stderr
    calls = set()
    for f in json.loads(r.stdout)["files"]:
        for res in f["resolutions"]:
            if res["source"].startswith("python: "):
                feature, _, where = res["source"][len("python: ") :].rpartition(" at ")
                calls.add((res["needed_by"], int(where.rsplit(":", 1)[1]), feature.split("(", 1)[0], res["name"]))
    return calls


def compare(root: Path, paths: list[str], trees: list[str]) -> dict:
    """Compares the judge with the C core and with find-libdeps on PATHS (all the sources under
    TREES); returns the judge's document."""
    doc = judge(root, paths)
    rejected = set(doc["rejected"])
    judged = {(p, line, callee, tuple(names)) for p, line, callee, names in doc["calls"]}
    ours = {c for c in by_core(paths) if c[0] not in rejected}
    assert sorted(ours - judged)[:10] == [] and sorted(judged - ours)[:10] == []
    listed = {c for c in by_find_libdeps(trees) if c[0] not in rejected}
    assert {c[:3] for c in listed} == {c[:3] for c in judged}
    names = {c[:3]: c[3] for c in judged}
    for path, line, callee, name in listed:  # the name that counted is one the call gave
        assert name in names[(path, line, callee)], (path, line, callee, name)
    return doc


def sources(tree: str) -> list[str]:
    """The .py files under TREE as find-libdeps walks it: no symlink followed."""
    return sorted(
        os.path.join(d, name)
        for d, _, files in os.walk(tree)
        for name in files
        if name.endswith(".py") and not os.path.islink(os.path.join(d, name)) and os.path.isfile(os.path.join(d, name))
    )


# ---- a generated corpus -------------------------------------------------------------------------

# Each a module body, to be written with every line ending, with and without a byte-order mark.
CASES = {
    "spec_quote": "label = f\"{d:%b '%y}\"\nctypes.CDLL('libz.so.1')\n",
    "spec_fill": "a = f\"{v:'>10}\" + f\"{v:(>10}\" + f'{v:[^10}' + f'{v:\">10}'\nctypes.CDLL('libz.so.1')\n",
    "spec_nested": "a = f'{v:{w}.{p}}' + f\"{v!r:'^{w}}\" + f'{v=!r:(>4}' + f\"{v:{'>'}{w}}\"\nctypes.CDLL('libbz2.so.1.0')\n",
    "spec_call": "a = f'{v:{ctypes.CDLL(\"libz.so.1\")}}'\n",
    "braces": "a = f'{{}}{{' + f'}}{x}}}'\nctypes.CDLL('libz.so.1')\n",
    "same_quotes": 'a = f"{f"{x}"}" + f"{"CDLL(\'libq.so\')"}"\nctypes.CDLL("libz.so.1")\n',
    "nested_fstrings": "a = f'{f\"{f'{x:>3}'}\"}'\nb = f\"{ctypes.CDLL(f'{y}')}\"\nctypes.cdll.LoadLibrary('libz.so.1')\n",
    "field_call": "x = f'{ctypes.CDLL(\"libbz2.so.1.0\")!r}'\n",
    "field_multiline": 'x = f"""{\n  ctypes.CDLL(  # a comment in a field\n    "libz.so.1")\n}"""\n',
    "escapes": "a = f'\\N{DIGIT ONE}{x}' + f'\\{x}'\nctypes.CDLL('libz.so.1')\nctypes.CDLL('lib\\x7a.so.1')\n",
    "string_continued": 'x = "a\\\nctypes.CDLL(\'libbz2.so.1.0\')"\nctypes.CDLL("libz.so.1")\n',
    "call_continued": 'ctypes.CDLL \\\n("libz.so.1")\nctypes \\\n  .util.find_library("z")\n',
    "parens": "ctypes.CDLL(('libz.so.1'))\nctypes.CDLL((('lib' 'z.so.1')))\nctypes.CDLL(('a', 'b'))\nctypes.CDLL(('a'), 'libbz2.so.1.0')\n",
    "paren_callee": "(ctypes.CDLL)('libz.so.1')\n((ctypes).CDLL)('libz.so.1')\n(ctypes\n  .util.find_library)('z')\n",
    "comment_callee": "(ctypes  # c.CDLL\n .CDLL)('libz.so.1')\nctypes.CDLL(  # 'x'\n 'libz.so.1')\n",
    "nfkc": "ctypes.ＣＤＬＬ('libz.so.1')\nctypes.util.ﬁnd_library('z')\n𝐝𝐥𝐨𝐩𝐞𝐧('libz.so.1')\nctypes.cdll.Ｌoad𝓛ibrary('libbz2.so.1.0')\n",
    "keywords": "ctypes.CDLL(name='libz.so.1', mode=0)\nffi.dlopen(*args, 'x')\nctypes.CDLL(**kw)\n",
    "not_literals": "ctypes.CDLL('lib%s.so' % v)\nctypes.CDLL('a' if x else 'b')\nctypes.CDLL(f'{x}')\nctypes.CDLL('')\nctypes.CDLL('"
    + "x" * 300
    + "')\n",
    "definitions": "def dlopen(name='libz.so.1'):\n    pass\nclass CDLL('x'):\n    pass\nasync def find_library(n='z'): ...\n",
    "receivers": "mods[0].CDLL('libz.so.1')\nload().CDLL('libz.so.1')\n'a'.find_library('z')\n",
    "nested_calls": "ctypes.CDLL(" * 30 + "'libz.so.1'" + ")" * 30 + "\n",
    "docstrings": '"""ctypes.CDLL("libz.so.1")"""\n# ctypes.CDLL("libz.so.1")\nx = \'\'\'\nffi.dlopen("z")\n\'\'\'\n',
    "bytes": "ctypes.CDLL(b'libz.so.1')\nctypes.CDLL(rb'libz.so.1', br'x')\n",
}
ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
# Written once: more calls in one file than the lexer once kept.
ONCE = {"many_calls": "".join(f"ctypes.CDLL('libz.so.{n % 2}')\n" for n in range(5000))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("generated")
    for case, body in CASES.items():
        for ending, eol in ENDINGS.items():
            for bom in (b"", b"\xef\xbb\xbf"):
                data = bom + ("import ctypes\n" + body).replace("\n", eol).encode()
                (tree / f"{case}_{ending}{'_bom' if bom else ''}.py").write_bytes(data)
    for case, body in ONCE.items():
        (tree / f"{case}.py").write_text("import ctypes\n" + body)
    return tree


def test_the_judge_agrees_on_generated_sources(trixie_root, generated):
    paths = sources(str(generated))
    doc = compare(trixie_root, paths, [str(generated)])
    # every case is Python the judge reads, and holds calls
    assert doc["rejected"] == [] and doc["parsed"] == len(paths)  # each one names a key
    assert len(doc["calls"]) > 25 * len(ENDINGS) * 2


# ---- every source at hand -----------------------------------------------------------------------


@pytest.mark.may_skip("the sanitizer phase judges the generated corpus only")
def test_the_judge_agrees_on_every_source_at_hand(trixie_root):
    if SANITIZED:
        pytest.skip("the sanitizer phase judges the generated corpus only")
    trees = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], DIST_PACKAGES})
    trees = [t for t in trees if os.path.isdir(t)]
    paths = sorted({p for t in trees for p in sources(t)})
    assert len(paths) >= MIN_CORPUS, f"only {len(paths)} sources under {', '.join(trees)}"
    doc = compare(trixie_root, paths, trees)
    assert doc["parsed"] + doc["unnamed"] + len(doc["rejected"]) == len(paths)
    print(
        f"{len(paths)} sources, {len(doc['rejected'])} rejected by Python {sys.version_info[:2]}'s judge, {len(doc['calls'])} calls",
        file=sys.stderr,
    )
