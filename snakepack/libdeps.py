"""Which Debian packages must be installed so that every ELF file under a tree loads.

The C core walks the trees, resolves each ELF file's dependencies as the glibc loader would
(without running anything) and reads the dpkg database; this module turns its answer into a
structured result.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from . import _core
from .errors import LibdepsError, UsageError

__all__ = ["LibdepsResult", "Package", "Resolution", "ElfFile", "find_libdeps"]


@dataclass(frozen=True, order=True)
class Package:
    name: str
    arch: str


@dataclass(frozen=True)
class Resolution:
    """How one DT_NEEDED name of one object of a load tree was answered."""

    name: str
    needed_by: str
    how: str  # path, rpath, ld_library_path, runpath, ld.so.cache, ld.so.conf, default, loaded,
    # not_found or error
    path: str | None = None  # the path the loader opens
    realpath: str | None = None
    bundled: bool = False  # found inside a scanned tree: shipped with it, no package needed
    packages: tuple[Package, ...] = ()
    error: str | None = None

    @property
    def resolved(self) -> bool:
        return self.path is not None


@dataclass
class ElfFile:
    """An ELF file found under a scanned path: the root of its own load tree."""

    path: str
    needed: tuple[str, ...]
    resolutions: list[Resolution] = field(default_factory=list)


@dataclass
class LibdepsResult:
    files: list[ElfFile]
    packages: list[Package]  # sorted, unique
    bundled: list[str]  # libraries resolved inside the scanned trees
    unresolved: list[Resolution]  # not found, or a candidate that stops the loader
    unowned: list[str]  # resolved system libraries no installed package owns
    warnings: list[str]  # files skipped and search paths ignored, one line each

    @property
    def package_names(self) -> list[str]:
        """The bare package names, sorted and unique: find-libdeps' default output."""
        return sorted({p.name for p in self.packages})

    def to_json(self) -> dict:
        def res(r: Resolution) -> dict:
            return {
                "name": r.name,
                "needed_by": r.needed_by,
                "how": r.how,
                "path": r.path,
                "realpath": r.realpath,
                "bundled": r.bundled,
                "packages": [{"name": p.name, "arch": p.arch} for p in r.packages],
                "error": r.error,
            }

        return {
            "files": [
                {"path": f.path, "needed": list(f.needed), "resolutions": [res(r) for r in f.resolutions]}
                for f in self.files
            ],
            "packages": [{"name": p.name, "arch": p.arch} for p in self.packages],
            "bundled": self.bundled,
            "unresolved": [res(r) for r in self.unresolved],
            "unowned": self.unowned,
            "warnings": self.warnings,
        }


def _inside(path: str, trees: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in trees)


def _absolute(path: str, root: str) -> str:
    if path.startswith("/"):
        return path
    # Inside a root, PATH arguments are paths as seen after chroot: relative to its "/".
    return os.path.join(os.getcwd() if root == "/" else "/", path)


def find_libdeps(
    *paths: str | os.PathLike,
    root: str | os.PathLike = "/",
    ld_library_path: list[str] | None = None,
    exclude_installed: str | os.PathLike | None = None,
) -> LibdepsResult:
    """Resolves every ELF file under PATHS (default: sys.prefix) inside ROOT.

    Raises UsageError when a path or the root cannot be read, LibdepsError when the dpkg
    database cannot be.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise UsageError(f"{root}: not a directory")
    scan = [_absolute(os.fspath(p), root) for p in (paths or (sys.prefix,))]
    llp = [_absolute(d, root) for d in ld_library_path or [] if d]
    try:
        files, trees, warnings, canonical = _core.resolve(root, scan, llp)
    except OSError as err:
        raise UsageError(err.strerror or str(err)) from err
    except _core.Error as err:
        raise LibdepsError(str(err)) from err

    # Each file the loader would open outside the scanned trees needs an owner: looked up by the
    # spellings it was opened under (canonical directory + name), then by its real path, since
    # alternatives and ldconfig-made links are owned by nobody but their targets are.
    used = sorted(
        {node[0] for _, nodes, _ in trees for node in nodes[1:]},
    )
    system = [i for i in used if not _inside(files[i][0], canonical)]
    queries: list[str] = []
    for i in system:
        queries.extend(files[i][3])
        queries.append(files[i][0])
    try:
        answers = dict(zip(queries, _core.dpkg_owners(root, queries)))
    except OSError as err:
        raise LibdepsError(err.strerror or str(err)) from err
    owners: dict[int, tuple[Package, ...]] = {}
    for i in system:
        found: set[Package] = set()
        for link in files[i][3]:
            found.update(Package(*o) for o in answers[link])
        if not found:
            found.update(Package(*o) for o in answers[files[i][0]])
        owners[i] = tuple(sorted(found))

    result = LibdepsResult([], [], [], [], [], list(warnings))
    packages: set[Package] = set()
    bundled: set[str] = set()
    unowned: set[str] = set()
    for path, nodes, edges in trees:
        elf = ElfFile(path, tuple(files[nodes[0][0]][6]))
        for requester, name, how, node, error in edges:
            needed_by = nodes[requester][1]
            if node < 0:
                r = Resolution(name, needed_by, how, error=error or f"{name}: not found")
                result.unresolved.append(r)
            else:
                fi, opened, _ = nodes[node]
                real = files[fi][0]
                inside = fi not in owners
                r = Resolution(name, needed_by, how, opened, real, inside, owners.get(fi, ()))
                if inside:
                    bundled.add(real)
                elif not r.packages:
                    unowned.add(real)
                packages.update(r.packages)
            elf.resolutions.append(r)
        result.files.append(elf)

    if exclude_installed is not None:
        try:
            there = _core.dpkg_installed(exclude_installed)
        except OSError as err:
            raise UsageError(f"{os.fspath(exclude_installed)}: {err.strerror}") from err
        arches: dict[str, set[str]] = {}
        for name, arch in there:
            arches.setdefault(name, set()).add(arch)
        packages = {p for p in packages if not _installed(p, arches)}
    result.packages = sorted(packages)
    result.bundled = sorted(bundled)
    result.unowned = sorted(unowned)
    return result


def _installed(p: Package, arches: dict[str, set[str]]) -> bool:
    """True when the target already has P: same name, and same architecture or an
    architecture-independent one on either side."""
    there = arches.get(p.name, set())
    return p.arch in there or "all" in there or (p.arch == "all" and bool(there))
