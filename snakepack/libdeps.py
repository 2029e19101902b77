"""Which Debian packages must be installed so that every ELF file under a tree loads.

The C core walks the trees, resolves each ELF file's dependencies as the glibc loader would
(without running anything) and reads the dpkg database; this module turns its answer into a
structured result.
"""

from __future__ import annotations

import os
import re
import sys
from collections import namedtuple

from ._native import _core
from .errors import LibdepsError, SnakepackError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LibdepsResult", "Package", "Resolution", "ElfFile", "find_libdeps", "check", "why"]

# Plain named tuples rather than dataclasses: importing dataclasses (or typing) costs more than
# the whole analysis of a typical tree, and find-libdeps runs in every image build.


class Package(namedtuple("Package", "name arch")):
    """An installed Debian package and its architecture."""

    __slots__ = ()


class Resolution(
    namedtuple(
        "Resolution",
        "name needed_by how path realpath bundled packages error source cpu",
        defaults=(None, None, False, (), None, "DT_NEEDED", None),
    )
):
    """How one library name that one object of a load tree loads was answered.

    how: path, rpath, ld_library_path, runpath, ld.so.cache, ld.so.conf, default, loaded,
    not_found or error. path is what the loader opens, realpath the file behind it; packages
    are the installed packages owning it, wherever it lies; bundled means it lies inside a
    scanned tree and no package owns it (shipped with the tree: nothing to install); error
    says why a name is not resolved. source says where the name comes from: DT_NEEDED,
    "dlopen note: FEATURE" for a library an FDO dlopen note names, or "python: CALL at
    FILE:LINE" for a string literal a Python source passes to ctypes or cffi (CALL says the
    callee and, when it differs from the literal, the name the library was found under). cpu
    is None when every CPU loads the same file for the name; where that depends on the CPU
    (hardware subdirectories such as glibc-hwcaps/x86-64-v3, or $PLATFORM), the name has one
    resolution per file some CPU loads, and cpu names the least capable kind of CPU that loads
    this one ("x86-64-v3, AT_PLATFORM haswell").
    """

    __slots__ = ()

    @property
    def resolved(self) -> bool:
        return self.path is not None

    def to_json(self) -> dict[str, Any]:
        d = self._asdict()
        d["packages"] = [p._asdict() for p in self.packages]
        return d


class ElfFile:
    """An ELF file found under a scanned path: the root of its own load tree. versions: the
    symbol versions it requires, (needed name, version) pairs (DT_VERNEED). With dlopen, a
    Python source that names libraries is the root of a tree too (no needed names of its own)."""

    __slots__ = ("path", "needed", "resolutions", "versions", "realpath")

    def __init__(
        self,
        path: str,
        needed: tuple[str, ...],
        versions: tuple[tuple[str, str], ...] = (),
        realpath: str | None = None,
    ):
        self.path = path
        self.needed = needed
        self.versions = versions
        self.realpath = path if realpath is None else realpath  # the file behind path
        self.resolutions: list[Resolution] = []

    def __repr__(self) -> str:
        return f"ElfFile({self.path!r}, needed={self.needed!r})"


class LibdepsResult:
    """What find_libdeps found: per ELF file its resolutions, and the summary lists."""

    def __init__(self, warnings: list[str]):
        self.files: list[ElfFile] = []
        self.defined: dict[str, tuple[str, ...]] = {}  # realpath -> versions it defines (DT_VERDEF)
        self.requires: dict[str, tuple[tuple[str, str], ...]] = {}  # realpath -> (name, version) it needs (DT_VERNEED)
        self.version_errors: dict[str, str] = {}  # realpath -> why its versions could not be read
        self.packages: list[Package] = []  # sorted, unique
        self.bundled: list[str] = []  # inside the scanned trees and owned by no package
        self.unresolved: list[Resolution] = []  # not found, or a candidate stops the loader
        self.unowned: list[str] = []  # resolved system libraries no installed package owns
        self.warnings = warnings  # files skipped and search paths ignored, one line each
        self.versions_read = True  # the versions above were read (find_libdeps(versions=True))
        self.glibc: dict[str, str | None] = {}  # per ABI (triplet): the root's glibc whose rules were followed
        self.root = "/"  # what was scanned: the root, and the paths as seen inside it
        self.scanned: list[str] = []
        self.sonames: dict[str, str | None] = {}  # realpath of a loaded file -> its DT_SONAME
        self.symbols_read = False  # the next two were read (find_libdeps(symbols=True))
        self.undefined: dict[str, tuple[str, ...]] = {}  # realpath -> its undefined symbols (NAME@VERSION)
        self.symbols_errors: dict[str, str] = {}  # realpath -> why its symbols could not be read
        self.excluded: set[str] = set()  # package names left out by exclude_installed

    @property
    def package_names(self) -> list[str]:
        """The bare package names, sorted and unique: find-libdeps' default output."""
        return sorted({p.name for p in self.packages})

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [
                {
                    "path": f.path,
                    "needed": list(f.needed),
                    "versions": [list(v) for v in f.versions],
                    "resolutions": [r.to_json() for r in f.resolutions],
                }
                for f in self.files
            ],
            "packages": [p._asdict() for p in self.packages],
            "bundled": self.bundled,
            "unresolved": [r.to_json() for r in self.unresolved],
            "unowned": self.unowned,
            "warnings": self.warnings,
            "glibc": self.glibc,
        }


def _absolute(path: str, root: str) -> str:
    if not path:
        raise UsageError("an empty path names no file (use . for the current directory)")
    if path.startswith("/"):
        return path
    # Inside a root, PATH arguments are paths as seen after chroot: relative to its "/".
    return os.path.join(os.getcwd() if root == "/" else "/", path)


def _translate(err: OSError) -> SnakepackError:
    """The API's exception for a failure of the C core, chosen by what it is about: the dpkg
    database (LibdepsError) or a path, root or file the caller named (UsageError)."""
    kind = getattr(err, "kind", "system")
    message = err.strerror or str(err)
    return LibdepsError(message) if kind in ("dpkg", "system") else UsageError(message)


DLOPEN_PRIORITIES = ("required", "recommended", "suggested")


def find_libdeps(
    *paths: str | os.PathLike[str],
    root: str | os.PathLike[str] = "/",
    ld_library_path: list[str] | None = None,
    exclude_installed: str | os.PathLike[str] | None = None,
    dlopen: str | None = None,
    versions: bool = True,
    symbols: bool = False,
) -> LibdepsResult:
    """Resolves every ELF file under PATHS (default: sys.prefix) inside ROOT.

    dlopen: also the libraries that FDO dlopen notes name, of that priority (required,
    recommended or suggested) and above, and those that the Python sources under PATHS name
    with string literals in calls of ctypes and cffi (at every priority); None: DT_NEEDED only.
    versions: read each object's symbol versions (DT_VERNEED, DT_VERDEF), which check() needs;
    without them the result's versions are empty and check() refuses it.
    symbols: read each object's undefined dynamic symbols, which shlibs.minimum_versions() needs.

    Raises UsageError when a path or the root cannot be read, LibdepsError when the dpkg
    database cannot be.
    """
    if dlopen is not None and dlopen not in DLOPEN_PRIORITIES:
        raise UsageError(f"--dlopen {dlopen!r}: not one of {', '.join(DLOPEN_PRIORITIES)}")
    root = os.fspath(root)
    if not root:
        raise UsageError("an empty root names no directory")
    if not os.path.isdir(root):
        raise UsageError(f"{root}: not a directory")
    scan = [_absolute(os.fspath(p), root) for p in (paths or (sys.prefix,))]
    llp = [_absolute(d, root) for d in ld_library_path or [] if d]
    try:
        level = -1 if dlopen is None else DLOPEN_PRIORITIES.index(dlopen)
        files, trees, warnings, glibc = _core.resolve(root, scan, llp, dlopen=level, versions=versions, symbols=symbols)
        there = None if exclude_installed is None else _core.dpkg_installed(os.path.abspath(exclude_installed))
    except OSError as err:
        raise _translate(err) from err

    # owners: of a file some tree loads, else None. Bundled: inside a scanned tree, and owned by
    # no installed package.
    owners = {i: tuple(sorted(Package(*o) for o in f.owners)) for i, f in enumerate(files) if f.owners is not None}

    result = LibdepsResult(list(warnings))
    result.versions_read = versions
    result.symbols_read = symbols
    result.root, result.scanned = root, scan
    result.glibc = {triplet: f"{v // 100}.{v % 100}" if v else None for triplet, v in glibc}
    packages: set[Package] = set()
    bundled: set[str] = set()
    unowned: set[str] = set()
    for path, nodes, edges in trees:
        top = files[nodes[0].file]
        pairs = top.verneed
        elf = ElfFile(path, tuple(top.needed), tuple(zip(pairs[::2], pairs[1::2], strict=True)), top.path)
        if symbols:
            _record_symbols(result, top)
        if dlopen is not None and top.dlopen_error:
            result.warnings.append(f"{top.dlopen_error}: ignored")
        for e in edges:
            needed_by = nodes[e.requester].opened
            if e.line:
                source = f"python: {e.feature} at {needed_by}:{e.line}"
            else:
                source = "DT_NEEDED" if e.feature is None else f"dlopen note: {e.feature}".rstrip(": ")
            if e.node < 0:
                r = Resolution(e.name, needed_by, e.how, error=e.error or "not found", source=source, cpu=e.cpu)
                if not e.line:  # a literal no file answers to is mostly another platform's name
                    result.unresolved.append(r)
            else:
                node = nodes[e.node]
                f, pkgs = files[node.file], owners.get(node.file, ())
                r = Resolution(
                    e.name, needed_by, e.how, node.opened, f.path, f.inside and not pkgs, pkgs, None, source, e.cpu
                )
                if not pkgs:
                    (bundled if f.inside else unowned).add(f.path)
                packages.update(pkgs)
                result.defined[f.path] = tuple(f.verdef)
                pairs = f.verneed
                result.requires[f.path] = tuple(zip(pairs[::2], pairs[1::2], strict=True))
                if f.versions_error:
                    result.version_errors[f.path] = f.versions_error
                result.sonames[f.path] = f.soname
                if symbols:
                    _record_symbols(result, f)
            elf.resolutions.append(r)
        result.files.append(elf)

    if there is not None:
        arches: dict[str, set[str]] = {}
        for name, arch in there:
            arches.setdefault(name, set()).add(arch)
        kept = {p for p in packages if not _installed(p, arches)}
        result.excluded = {p.name for p in packages - kept}
        packages = kept
    result.packages = sorted(packages)
    result.bundled = sorted(bundled)
    result.unowned = sorted(unowned)
    return result


def _record_symbols(result: LibdepsResult, f: Any) -> None:
    """Notes what minimum_versions() reads of file F (a _core.File): its undefined symbols, why
    they could not be read."""
    if f.path not in result.undefined:
        result.undefined[f.path] = tuple(f.undefined.split("\n")[:-1])  # a newline after each
        if f.symbols_error:
            result.symbols_errors[f.path] = f.symbols_error


def _installed(p: Package, arches: dict[str, set[str]]) -> bool:
    """True when the target already has P: same name, and same architecture or an
    architecture-independent one on either side."""
    there = arches.get(p.name, set())
    return p.arch in there or "all" in there or (p.arch == "all" and bool(there))


_VERSION = re.compile(r"(.*?)(\d+(?:\.\d+)*)")


def _newest(version: str, defined: tuple[str, ...]) -> str | None:
    """The newest version of VERSION's series (GLIBC_, GLIBCXX_, OPENSSL_...) in DEFINED."""
    m = _VERSION.fullmatch(version)
    if m is None:
        return None
    series = [
        (tuple(int(x) for x in d.group(2).split(".")), d.group(0))
        for d in map(_VERSION.fullmatch, defined)
        if d is not None and d.group(1) == m.group(1)
    ]
    return max(series)[1] if series else None


def check(result: LibdepsResult) -> list[str]:
    """Why the scanned files would not load in the root, one line each: a library that does not
    resolve anywhere in a file's load tree, or a symbol version (DT_VERNEED) that an object of
    the tree requires of a library it needs and that library, as resolved, does not define
    (DT_VERDEF). Where the file a name resolves to depends on the CPU, each one is checked.
    Then the virtual environments at, under or above the scanned paths: an interpreter that is
    missing or of another version or ABI (venvs.problems). Empty when everything loads."""
    if not result.versions_read:
        raise ValueError("check() needs a result made with find_libdeps(versions=True)")
    failures: list[str] = []
    for f in result.files:
        # each object of the tree (by the path it is loaded as) with the libraries it loads:
        # one per name, or one per kind of CPU that loads another file for it
        loads: dict[str, dict[str, list[Resolution]]] = {}
        for r in f.resolutions:
            if r.source != "DT_NEEDED":
                continue
            if r.resolved:
                found = loads.setdefault(r.needed_by, {}).setdefault(r.name, [])
                if r.how != "loaded" or not found:
                    found.append(r)
            else:
                by = "" if r.needed_by == f.path else f" (needed by {r.needed_by})"
                on = f" on a CPU such as {r.cpu}" if r.cpu else ""
                failures.append(f"{f.path}: {r.name}{by}: {r.error}{on}")
        objects = [(f.path, f.versions)] + [
            (r.path, result.requires.get(r.realpath or "", ()))
            for rs in loads.values()
            for each in rs.values()
            for r in each
        ]
        for obj, versions in dict(objects).items():
            for lib, version in versions:
                for to in loads.get(obj, {}).get(lib, []):
                    defined = result.defined.get(to.realpath or "", ())
                    if version in defined:
                        continue
                    damaged = result.version_errors.get(to.realpath or "")
                    newest = _newest(version, defined)
                    has = damaged or (f"this root has {newest}" if newest else "it defines no such version")
                    by = "" if obj == f.path else f" (needed by {obj})"
                    failures.append(f"{f.path}: {lib} ({to.path}){by}: version {version} not found; {has}")
    from . import venvs
    from .confined import Root

    with Root(result.root) as root:
        for venv in venvs.find(result.scanned, root):
            failures += venvs.problems(venv, root)
    return list(dict.fromkeys(failures))


def why(result: LibdepsResult, package: str) -> list[str]:
    """The chains that pull PACKAGE in, one line each: scanned file -> name (where the name
    comes from, how it was found) path -> ... -> package."""
    lines: list[str] = []
    for f in result.files:
        loaded_by: dict[str, Resolution] = {}
        for r in f.resolutions:
            if r.resolved:
                loaded_by.setdefault(r.path, r)
        for r in f.resolutions:
            if not any(p.name == package for p in r.packages):
                continue
            chain, up = [r], r.needed_by
            while up != f.path and up in loaded_by and loaded_by[up] not in chain:
                chain.append(loaded_by[up])
                up = loaded_by[up].needed_by
            steps = "".join(f" -> {c.name} ({c.source}, {c.how}) {c.path}" for c in reversed(chain))
            lines.append(f"{f.path}{steps} -> {package}")
    return list(dict.fromkeys(lines))
