"""The judge of find-libdeps --dlopen's reading of Python sources: Python's own parser, told the
rule the README states, and nothing of the lexer of ext/pysrc.c.

A call counts when the last name of its callee (a name, or an attribute) contains dlopen, CDLL,
LoadLibrary or find_library; its arguments (positional, or keyword values) that are nothing but
string literals are its library names, in source order, each non-empty, without a backslash in
its source, at most 255 bytes. The callee is the dotted names Python reads (NFKC), from the first
name after anything that is not a name (ctypes.CDLL; x[0].CDLL is CDLL); its line is that name's.

Run by the newest Python at hand (the tests run it from a Debian 13 root): reads the paths of
sources, one per line, on stdin, and prints one JSON document: how many files it parsed, how
many it did not need to (no name in them, once NFKC has made them what Python reads, holds a
key), the paths of those it rejected (no valid Python for it), and the calls, as [path, line,
callee, [names]].
"""

import ast
import importlib.util
import io
import json
import sys
import tokenize
import unicodedata

KEYS = ("dlopen", "CDLL", "LoadLibrary", "find_library")
MAX_LITERAL = 255


def callee(func: ast.expr) -> tuple[str, int] | None:
    """The callee's text and the line of its first name, or None when it is not a call by name."""
    if isinstance(func, ast.Name):
        return func.id, func.lineno
    if not isinstance(func, ast.Attribute):
        return None
    names = []
    node: ast.expr = func
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        inner = node
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
        line = node.lineno
    else:  # the first name is the attribute right after something else: its line ends it
        line = inner.end_lineno
    return ".".join(reversed(names)), line


def source_of(node: ast.expr, lines: list[bytes]) -> str:
    """NODE's source text (ast.get_source_segment, without splitting the file anew each time);
    LINES: the file's lines, UTF-8, as the columns count."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first][node.col_offset : node.end_col_offset].decode()
    text = [lines[first][node.col_offset :], *lines[first + 1 : last], lines[last][: node.end_col_offset]]
    return b"".join(text).decode()


def literal(arg: ast.expr, lines: list[bytes]) -> str | None:
    """The library name ARG is, if it is one."""
    if not isinstance(arg, ast.Constant) or not isinstance(arg.value, (str, bytes)):
        return None
    segment = source_of(arg, lines)
    pieces = [t.string for t in tokenize.generate_tokens(io.StringIO(segment).readline) if t.type == tokenize.STRING]
    if any("\\" in p for p in pieces):
        return None
    raw = arg.value if isinstance(arg.value, bytes) else arg.value.encode("utf-8", "surrogatepass")
    if not raw or len(raw) > MAX_LITERAL:
        return None
    return raw.decode("utf-8", "surrogateescape")


def calls(path: str) -> list[list] | None:
    """The calls of the source at PATH; None when no name in it can be one (not parsed)."""
    with open(path, "rb") as f:
        data = f.read()
    text = importlib.util.decode_source(data)  # its coding, universal newlines
    if not any(k in (text if text.isascii() else unicodedata.normalize("NFKC", text)) for k in KEYS):
        return None  # Python reads identifiers as NFKC makes them: no callee can name a key
    tree = ast.parse(data, path)
    lines = text.encode().splitlines(keepends=True)  # the columns count UTF-8 bytes
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        named = callee(node.func)
        if named is None or not any(k in named[0].rsplit(".", 1)[-1] for k in KEYS):
            continue
        args = sorted(
            [*node.args, *(k.value for k in node.keywords if k.arg is not None)], key=lambda a: (a.lineno, a.col_offset)
        )
        names = [n for n in (literal(a, lines) for a in args) if n is not None]
        if names:
            found.append([path, named[1], named[0], names])
    return found


def main() -> int:
    parsed, unnamed, rejected, found = 0, 0, [], []
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            got = calls(path)
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            rejected.append(path)
            continue
        if got is None:
            unnamed += 1
        else:
            parsed += 1
            found.extend(got)
    json.dump({"parsed": parsed, "unnamed": unnamed, "rejected": rejected, "calls": found}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
