"""The minimum version of each package a tree needs, as dpkg-shlibdeps computes it, without a
debian/control or a package build tree: from the symbols and shlibs files of the root's dpkg
database, for the symbols each object of the load trees takes from the libraries it needs.

For one object, each library it needs (DT_NEEDED, in order) is looked up in the symbols files of
the packages owning it (/etc/dpkg/symbols/PKG.symbols[.ARCH], then the database's PKG.symbols):
its dependency template starts at the smallest version the file lists for it, and each undefined
symbol of the object (NAME@VERSION, NAME@Base when unversioned) raises the template it maps to
(the main one, or a `|` alternative the symbol line names by number) to the symbol's minimum
version, the first library in DT_NEEDED order that lists the symbol answering. A library no
symbols file lists takes the dependency of the shlibs files (/etc/dpkg/shlibs.override, the
package's shlibs, /etc/dpkg/shlibs.default) as it stands, as dpkg-shlibdeps does; a private
library (no DT_SONAME) or one without either file gives its package no version. Deprecated
symbols (#MISSING:, #DEPRECATED:) answer no lookup.

dpkg-shlibdeps looks at the files it is given only and leaves the rest to the packages' own
Depends; find-libdeps lists the whole closure. A package that a scanned file needs directly gets
exactly what dpkg-shlibdeps would compute over the scanned files; a package that only libraries
of the closure need gets the minimum those libraries need (as installed in this root). A
library loaded through a dlopen note or a Python call gives its package the smallest version of
its symbols file: no symbol binds to it at link time.
"""

from __future__ import annotations

import re
from collections import namedtuple

from .debversion import sort_key, valid

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from .confined import Root
    from .libdeps import LibdepsResult, Package, Resolution

__all__ = ["MinimumVersion", "minimum_versions", "parse_symbols", "shlibs_dependency", "Damaged"]


class MinimumVersion(namedtuple("MinimumVersion", "depends packages direct")):
    """One relation in Debian's syntax (depends: "libc6 (>= 2.34)", "libfoo1 | libbar1"), the
    package names it mentions, and whether a scanned file needs it (direct) or only a library of
    the closure does. A package without version information stands alone ("libfoo1")."""

    __slots__ = ()

    def to_json(self) -> dict[str, object]:
        return {"depends": self.depends, "packages": list(self.packages), "direct": self.direct}


class Damaged(ValueError):
    """A symbols or shlibs file that cannot be read as one; args[0] says where and why."""


class Library:
    """One library (soname) of a symbols file: its dependency templates (the first the main one,
    then the `|` alternatives) and its symbols, NAME@VERSION -> minimum version for the plain
    ones (the main template, not deprecated: nearly all), NAME@VERSION -> (minimum version,
    template number, deprecated) for the others."""

    __slots__ = ("templates", "plain", "other", "_smallest")

    def __init__(self, template: str):
        self.templates = [template]
        self.plain: dict[str, str] = {}
        self.other: dict[str, tuple[str, int, bool]] = {}
        self._smallest: str | None = None

    def add(self, symbol: str, version: str, template: int, deprecated: bool) -> None:
        if template or deprecated:
            self.plain.pop(symbol, None)
            self.other[symbol] = (version, template, deprecated)
        else:
            self.other.pop(symbol, None)
            self.plain[symbol] = version

    @property
    def smallest(self) -> str:
        """The smallest minimum version of the symbols of the main template ('' when none),
        deprecated ones included: where dpkg-shlibdeps starts a library every object needs,
        used or not."""
        if self._smallest is None:
            versions = set(self.plain.values())
            versions.update(v for v, template, _ in self.other.values() if template == 0)
            self._smallest = min(versions, key=sort_key, default="")
        return self._smallest


_PATTERN_TAGS = ("c++", "regex", "symver")


# The newlines before lines that do not start with a blank (libraries, |, *, # lines).
_UNINDENTED = re.compile(r"\n(?=[^ \t\n])")


def parse_symbols(text: str, name: str) -> dict[str, Library]:
    """The libraries of a symbols file (deb-symbols(5)), by soname. Raises Damaged naming NAME
    and the line for anything that is not a symbols file line: half a file could only make a
    minimum version too low."""
    state = _SymbolsParse(name)
    number = 1
    # Each chunk is an unindented line and the symbol lines under it, read in bulk when they are
    # all plain symbol lines (nearly always), else line by line.
    for chunk in _UNINDENTED.split(text):
        head, newline, body = chunk.partition("\n") if not chunk[:1].isspace() else ("", "", chunk)
        if head:
            state.line(head, number)
        start = number + (1 if newline else 0)
        if body:
            state.body(body, start)
        number += chunk.count("\n") + 1
    return state.done()


class _SymbolsParse:
    """What parse_symbols has read so far."""

    def __init__(self, name: str):
        self.name = name
        self.libs: dict[str, Library] = {}
        self.current: Library | None = None
        self.checked: set[str] = set()  # versions found valid: a file repeats a few many times

    def damaged(self, number: int, why: str) -> Damaged:
        return Damaged(f"{self.name}:{number}: {why}")

    def version(self, version: str, number: int) -> None:
        if version not in self.checked:
            if not valid(version):
                raise self.damaged(number, f"{version!r} is not a Debian version")
            self.checked.add(version)

    def body(self, body: str, number: int) -> None:
        """The symbol lines under one unindented line (NUMBER is the first's)."""
        if self.current is not None:
            try:
                if self._bulk(self.current, body):
                    return
            except Damaged:
                pass  # read again line by line, to name the line
        for i, line in enumerate(body.split("\n")):
            self.line(line, number + i)

    def _bulk(self, lib: Library, body: str) -> bool:
        """Reads BODY in bulk when every line is a plain symbol line; False when some is not."""
        if "(" in body:
            return False  # tags
        words = body.split()
        lines = body.count("\n") + (not body.endswith("\n"))
        if len(words) == 2 * lines:
            # " NAME MINVER" on every line (nearly always). A line of another length shifts a
            # NAME@VERSION into the versions, which the version check refuses.
            versions = words[1::2]
            for version in set(versions) - self.checked:
                self.version(version, 0)
            if lib.other:
                for symbol in lib.other.keys() & set(words[0::2]):
                    del lib.other[symbol]
            lib.plain.update(zip(words[0::2], versions, strict=True))
            return True
        # some lines name a dependency template: " NAME MINVER TEMPLATE" (libc6's private symbols)
        rows = [row for row in map(str.split, body.split("\n")) if row]
        if any(len(row) != 2 and (len(row) != 3 or not row[2].isdigit()) for row in rows):
            return False
        for version in {row[1] for row in rows} - self.checked:
            self.version(version, 0)
        for row in rows:
            lib.add(row[0], row[1], int(row[2]) if len(row) == 3 else 0, False)
        return True

    def line(self, line: str, number: int) -> None:
        deprecated = False
        if line.startswith("#"):
            m = re.match(r"#(?:DEPRECATED|MISSING): [^#]+#\s*(.*)", line)
            if m is None:
                return  # a comment (or an #include, which installed files never carry)
            spec, deprecated = m.group(1), True
        elif line[:1].isspace() or not line:
            spec = line.strip()
            if not spec:
                return
        elif line.startswith("|"):
            if self.current is None:
                raise self.damaged(number, "an alternative dependency before any library")
            self.current.templates.append(line[1:].strip())
            return
        elif line.startswith("*"):
            if self.current is None or ":" not in line:
                raise self.damaged(number, "a field outside a library")
            return  # meta-fields (Build-Depends-Package) need a debian/control
        else:
            soname, _, template = line.partition(" ")
            if not template.strip():
                raise self.damaged(number, "a library line without a dependency template")
            self.current = self.libs[soname] = Library(template.strip())
            return
        if self.current is None:
            raise self.damaged(number, "a symbol before any library")
        if spec.startswith("("):  # tags: (optional|arch=...)symbol
            tags, close, spec = spec[1:].partition(")")
            if not close:
                raise self.damaged(number, "unclosed tag list")
            if any(t.split("=")[0] in _PATTERN_TAGS for t in tags.split("|")):
                return  # a pattern: dpkg-gensymbols expands them before a file is installed
            if spec[:1] in ("'", '"'):
                symbol, close, spec = spec[1:].partition(spec[0])
                spec = symbol.replace(" ", "\0") + spec  # keep the quoted name one word
        fields = spec.split()
        if len(fields) < 2 or (len(fields) > 2 and not fields[2].isdigit()):
            raise self.damaged(number, "not a symbol, minimum version and template number")
        self.version(fields[1], number)
        number_of_template = int(fields[2]) if len(fields) > 2 else 0
        self.current.add(fields[0].replace("\0", " "), fields[1], number_of_template, deprecated)

    def done(self) -> dict[str, Library]:
        for soname, lib in self.libs.items():
            for _, template, _ in lib.other.values():
                if template >= len(lib.templates):
                    raise Damaged(
                        f"{self.name}: {soname}: a symbol names dependency template {template}, which it lacks"
                    )
        return self.libs


def split_soname(soname: str) -> tuple[str, str] | None:
    """(name, version) of NAME.so.VERSION or NAME-VERSION.so, as shlibs files key libraries;
    None for other names."""
    m = re.fullmatch(r"(.+)\.so\.(.+)", soname) or re.fullmatch(r"(.+)-(\d.*)\.so", soname)
    return (m.group(1), m.group(2)) if m else None


_SHLIBS_LINE = re.compile(r"\s*(?:(\S+):\s+)?(\S+)\s+(\S+)(?:\s+(\S.*\S))?\s*")


def shlibs_dependency(text: str, name: str, soname: str) -> str | None:
    """The dependency a shlibs file (deb-shlibs(5)) gives SONAME for a deb: a line typed deb:
    wins, else the first untyped one. Raises Damaged naming NAME and the line for a line that is
    not a shlibs line."""
    key = split_soname(soname)
    found = None
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("#") or not line.strip():
            continue
        m = _SHLIBS_LINE.fullmatch(line)
        if m is None:
            raise Damaged(f"{name}:{number}: not a shlibs line")
        kind, library, version, depends = m.groups()
        if key is None or (library, version) != key:
            continue
        if kind == "deb":
            return depends or ""
        if kind is None and found is None:
            found = depends or ""
    return found


class _Database:
    """The symbols and shlibs files of ROOT, each read and parsed once, damaged ones named in
    warnings once."""

    def __init__(self, root: Root, warnings: list[str]):
        self.root = root
        self.warnings = warnings
        self.texts: dict[str, str | None] = {}
        self.symbols_files: dict[str, dict[str, Library]] = {}

    def _text(self, path: str) -> str | None:
        if path not in self.texts:
            text = None
            try:
                text = self.root.read_bytes(path).decode()
            except FileNotFoundError:
                pass
            except OSError as err:
                self.warnings.append(f"{path}: {err.strerror}; its versions ignored")
            except UnicodeDecodeError:
                self.warnings.append(f"{path}: not a text file; its versions ignored")
            self.texts[path] = text
        return self.texts[path]

    def symbols(self, package: Package, soname: str) -> Library | None:
        info = "/var/lib/dpkg/info"
        for path in (
            f"/etc/dpkg/symbols/{package.name}.symbols.{package.arch}",
            f"/etc/dpkg/symbols/{package.name}.symbols",
            f"{info}/{package.name}:{package.arch}.symbols",
            f"{info}/{package.name}.symbols",
        ):
            if path not in self.symbols_files:
                text = self._text(path)
                libs: dict[str, Library] = {}
                if text is not None:
                    try:
                        libs = parse_symbols(text, path)
                    except Damaged as err:
                        self.warnings.append(f"{err}; its versions ignored")
                self.symbols_files[path] = libs
            lib = self.symbols_files[path].get(soname)
            if lib is not None:
                return lib
        return None

    def shlibs(self, package: Package, soname: str) -> str | None:
        info = "/var/lib/dpkg/info"
        qualified = f"{info}/{package.name}:{package.arch}.shlibs"
        own = qualified if self._text(qualified) is not None else f"{info}/{package.name}.shlibs"
        for path in ("/etc/dpkg/shlibs.override", own, "/etc/dpkg/shlibs.default"):
            text = self._text(path)
            if text is None:
                continue
            try:
                depends = shlibs_dependency(text, path, soname)
            except Damaged as err:
                self.warnings.append(f"{err}; its versions ignored")
                self.texts[path] = None  # once
                continue
            if depends is not None:
                return depends
        return None


_RELATIONS: dict[str, list[str]] = {}


def _raise(deps: dict[str, str], template: str, version: str) -> None:
    """dpkg-shlibdeps' update_dependency_version: each relation of TEMPLATE takes VERSION when
    it has none yet or a lower one ('' is no version)."""
    relations = _RELATIONS.get(template)
    if relations is None:
        relations = _RELATIONS[template] = re.split(r"\s*,\s*", template.strip())
    for relation in relations:
        current = deps.get(relation)
        if not current or (version and sort_key(version) > sort_key(current)):
            deps[relation] = version


def _needs(obj: str, loads: list[Resolution], result: LibdepsResult, db: _Database) -> dict[str, str]:
    """The relations (template -> minimum version, '' for none) one object needs."""
    deps: dict[str, str] = {}
    linked: list[Library] = []  # with a symbols file, in DT_NEEDED order: they answer symbols
    for r in loads:
        for package in r.packages:
            lib = db.symbols(package, r.name)
            if lib is not None:
                _raise(deps, lib.templates[0], lib.smallest)
                if r.source == "DT_NEEDED":
                    linked.append(lib)
                break
            if result.sonames.get(r.realpath or "") is None:
                continue  # a private library: no shlibs entry applies (dpkg-shlibdeps skips it)
            depends = db.shlibs(package, r.name)
            if depends is not None:
                for relation in re.split(r",\s*", depends.strip()):
                    deps[relation] = ""  # the shlibs text carries its own version
                break
    # Each undefined symbol is answered by the first library (in DT_NEEDED order) that lists
    # it, not deprecated. Set intersections do the lookups; most symbols repeat one (template
    # number, version) pair.
    left = set(result.undefined.get(obj, ()))
    raised: set[tuple[str, str]] = set()
    for lib in linked:
        if not left:
            break
        found = lib.plain.keys() & left  # iterates over the smaller
        left -= found
        raised.update((lib.templates[0], v) for v in {lib.plain[s] for s in found})
        for symbol in lib.other.keys() & left:
            version, which, deprecated = lib.other[symbol]
            if not deprecated:
                left.discard(symbol)
                raised.add((lib.templates[which], version))
    for template, version in raised:
        _raise(deps, template, version)
    return deps


def _names(relation: str) -> tuple[str, ...]:
    """The package names of one relation: "libfoo1 (>= 1) | libbar1:any" -> (libfoo1, libbar1)."""
    return tuple(alt.split()[0].split(":")[0] for alt in relation.split("|") if alt.split())


def _text(relation: str, version: str) -> str:
    # dpkg-shlibdeps writes no version "0" (false in Perl, as the empty string is)
    versioned = version not in ("", "0") and valid(version)
    text = relation.replace("#MINVER#", f"(>= {version})" if versioned else "")
    return " ".join(text.split())


def minimum_versions(result: LibdepsResult) -> tuple[list[MinimumVersion], list[str]]:
    """The minimum version of each package RESULT lists (made with find_libdeps(symbols=True)),
    sorted by package, and warnings naming the symbols and shlibs files that could not be read."""
    if not result.symbols_read:
        raise ValueError("minimum_versions() needs a result made with find_libdeps(symbols=True)")
    warnings = [f"{why}; its minimum versions ignored" for why in result.symbols_errors.values()]
    from .confined import Root

    with Root(result.root) as root:
        return _minimum_versions(result, _Database(root, warnings)), warnings


def _minimum_versions(result: LibdepsResult, db: _Database) -> list[MinimumVersion]:
    direct: dict[str, str] = {}
    indirect: dict[str, str] = {}
    done: dict[tuple[object, ...], dict[str, str]] = {}
    roots = {f.realpath for f in result.files}
    needed_directly: set[str] = set()
    for f in result.files:
        real = {f.path: f.realpath}
        loads: dict[str, dict[str, Resolution]] = {}  # requester -> name -> how it loads (first CPU)
        for r in f.resolutions:
            if r.resolved:
                real.setdefault(r.path or "", r.realpath or "")
                loads.setdefault(r.needed_by, {}).setdefault(r.name, r)
        for by, names in loads.items():
            obj = real.get(by)
            if obj is None:
                continue
            rs = list(names.values())
            key = (obj, tuple((r.name, r.realpath, r.source == "DT_NEEDED") for r in rs))
            if key not in done:
                done[key] = _needs(obj, rs, result, db)
            if obj in roots:
                into = direct
                needed_directly.update(p.name for r in rs for p in r.packages)
            else:
                into = indirect
            for relation, version in done[key].items():
                _raise(into, relation, version)

    lines = {_text(rel, v): MinimumVersion(_text(rel, v), _names(rel), True) for rel, v in direct.items()}
    named = {name for line in lines.values() for name in line.packages}
    for rel, v in indirect.items():
        if not named.intersection(_names(rel)):
            lines.setdefault(_text(rel, v), MinimumVersion(_text(rel, v), _names(rel), False))
    named = {name for line in lines.values() for name in line.packages}
    for name in result.package_names:
        if name not in named:
            lines[name] = MinimumVersion(name, (name,), name in needed_directly)
    kept = [m for m in lines.values() if not set(m.packages) <= result.excluded]
    return sorted(kept, key=lambda m: (m.packages, m.depends))
