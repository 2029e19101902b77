"""Types of snakepack._core, the C extension (ext/module.c). Checked against the module by
mypy's stubtest: keep the two in step."""

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from typing import Any, Final, final

from _typeshed import structseq

_Path = str | bytes | PathLike[str] | PathLike[bytes]
_Owner = tuple[str, str]  # (package, architecture)

# Named results (struct sequences, as os.stat_result): read them by name.
@final
class File(
    structseq[Any],
    tuple[
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
        str,
        str | None,
    ],
):
    """A file the search read."""

    __match_args__: Final = (
        "path",
        "error",
        "soname",
        "links",
        "elfclass",
        "machine",
        "needed",
        "interp",
        "owners",
        "inside",
        "verneed",
        "verdef",
        "versions_error",
        "dlopen_error",
        "undefined",
        "symbols_error",
    )
    @property
    def path(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def soname(self) -> str | None: ...
    @property
    def links(self) -> list[str]: ...
    @property
    def elfclass(self) -> int: ...
    @property
    def machine(self) -> int: ...
    @property
    def needed(self) -> list[str]: ...
    @property
    def interp(self) -> str | None: ...
    @property
    def owners(self) -> list[_Owner] | None:
        """None for a file that no tree loads (a scanned file only)."""
    @property
    def inside(self) -> bool:
        """It lies inside a scanned tree."""
    @property
    def verneed(self) -> list[str]:
        """DT_VERNEED, flat: file, version, file, version..."""
    @property
    def verdef(self) -> list[str]: ...
    @property
    def versions_error(self) -> str | None: ...
    @property
    def dlopen_error(self) -> str | None: ...
    @property
    def undefined(self) -> str: ...
    @property
    def symbols_error(self) -> str | None: ...

@final
class Node(structseq[Any], tuple[int, str, int]):
    """An object of a load tree."""

    __match_args__: Final = ("file", "opened", "loader")
    @property
    def file(self) -> int: ...
    @property
    def opened(self) -> str: ...
    @property
    def loader(self) -> int:
        """The node that caused it to be loaded, -1 for the root."""

@final
class Edge(structseq[Any], tuple[int, str, str, int, str | None, str | None, int, str | None]):
    """A name one object of a load tree needs, answered."""

    __match_args__: Final = ("requester", "name", "how", "node", "error", "feature", "line", "cpu")
    @property
    def requester(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def how(self) -> str: ...
    @property
    def node(self) -> int:
        """The node that answers, or -1."""
    @property
    def error(self) -> str | None: ...
    @property
    def feature(self) -> str | None:
        """None for DT_NEEDED, a dlopen note's feature, or for a Python call (line > 0) the
        callee and the name it was found under."""
    @property
    def line(self) -> int: ...
    @property
    def cpu(self) -> str | None:
        """None unless which file loads depends on the CPU: then the first kind that loads this one."""

_Tree = tuple[str, list[Node], list[Edge]]  # (path, nodes, edges)

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
    symbols: bool = False,
) -> tuple[list[File], list[_Tree], list[str], list[tuple[str, int]]]: ...
def dpkg_owners(root: _Path, paths: Iterable[_Path]) -> list[list[_Owner]]: ...
def dpkg_installed(status_file: _Path, /) -> list[_Owner]: ...
def python_calls(source: bytes, /) -> tuple[bool, list[tuple[int, str, int, list[str]]]]: ...
def parse_endpoint(text: _Path, /) -> tuple[str, str | None, str | None, str | None]: ...
def wait(
    endpoints: Sequence[_Path],
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
