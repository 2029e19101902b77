"""Types of snakepack._core, the C extension (ext/module.c). Checked against the module by
mypy's stubtest: keep the two in step."""

from collections.abc import Callable, Iterable, Sequence
from os import PathLike

_Path = str | bytes | PathLike[str] | PathLike[bytes]
_Owner = tuple[str, str]  # (package, architecture)
# (path, error, soname, links, elfclass, machine, needed, interp, owners, inside, verneed,
# verdef, versions_error, dlopen_error): owners is None for a file that no tree loads (a
# scanned file only); inside: it lies in a scanned tree; verneed: file, version, file, ...
_File = tuple[
    str,
    str | None,
    str | None,
    list[str],
    int,
    int,
    list[str],
    str | None,
    list[_Owner] | None,
    bool,
    list[str],
    list[str],
    str | None,
    str | None,
]
_Node = tuple[int, str, int]  # (file index, path opened, loader node or -1)
# (requester node, name, how, node or -1, error, feature, line, cpu): feature is None for
# DT_NEEDED, a dlopen note's feature, or for a Python call (line > 0) the callee and the name it
# was found under; line is 0 unless the name comes from a Python source; cpu is None unless
# which file loads depends on the CPU, then the first kind of CPU that loads this one
_Edge = tuple[int, str, str, int, str | None, str | None, int, str | None]
_Tree = tuple[str, list[_Node], list[_Edge]]  # (path, nodes, edges)

class Error(OSError):
    """A failure of the C core that has no errno."""

    kind: str

def resolve(
    root: _Path,
    paths: Iterable[_Path],
    ld_library_path: Iterable[_Path] | None = None,
    dpkg: bool = True,
    dlopen: int = -1,
    versions: bool = True,
) -> tuple[list[_File], list[_Tree], list[str], list[tuple[str, int]]]: ...
def dpkg_owners(root: _Path, paths: Iterable[_Path]) -> list[list[_Owner]]: ...
def dpkg_installed(status_file: _Path, /) -> list[_Owner]: ...
def python_calls(source: bytes, /) -> tuple[bool, list[tuple[int, str, int, list[str]]]]: ...
def parse_endpoint(text: _Path, /) -> tuple[int, str | None, str | None, str | None]: ...
def wait(
    endpoints: Sequence[tuple[int, str | None, str | None, str | None]],
    timeout: float,
    period: float,
    stable: float = 0.0,
    invert: bool = False,
    cancel_fd: int = -1,
    on_event: Callable[[int | None, str, float, str | None], object] | None = None,
    probe: bool = False,
    cacert: str | None = None,
    insecure: bool = False,
    verbose: bool = False,
) -> tuple[int, list[tuple[bool, float, str, int]]]: ...
