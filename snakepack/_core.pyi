from os import PathLike

_Path = str | bytes | PathLike[str] | PathLike[bytes]
# (path, error, soname, links, elfclass, machine, needed, interp)
_File = tuple[str, str | None, str | None, tuple[str, ...], int, int, list[str], str | None]
# (file index, path opened, loader node or -1)
_Node = tuple[int, str, int]
# (requester node, name, how, node or -1, error)
_Edge = tuple[int, str, str, int, str | None]

class Error(Exception): ...

def resolve(
    root: _Path, paths: list[_Path], ld_library_path: list[_Path] | None = ...
) -> tuple[list[_File], list[tuple[str, list[_Node], list[_Edge]]], list[str], list[str]]: ...
def dpkg_owners(root: _Path, paths: list[_Path]) -> list[list[tuple[str, str]]]: ...
def dpkg_installed(status_file: _Path) -> list[tuple[str, str]]: ...
