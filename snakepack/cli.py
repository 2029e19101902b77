"""Console scripts: argument parsing only; the work happens in the library modules."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import SnakepackError


class _Parser(argparse.ArgumentParser):
    """Bad input gives one line naming the problem and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n")


def _parser(prog: str, description: str, example: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{prog} (snakepack) {__version__}")
    return parser


def _fail(prog: str, message: str, code: int = 2) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code


# ---- find-libdeps -------------------------------------------------------------------------------


def find_libdeps_main(argv: list[str] | None = None) -> int:
    prog = "find-libdeps"
    parser = _parser(
        prog,
        "Print the Debian packages that must be installed so that every ELF file under PATH "
        "loads, one per line, sorted: what `apt-install -r` reads.",
        "find-libdeps /usr/share/python3/app > /usr/share/python3/app/pkgdeps.txt",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="trees to scan (default: sys.prefix)")
    parser.add_argument("--root", default="/", metavar="DIR", help="analyse the root filesystem DIR as if chrooted into it")
    parser.add_argument("--json", action="store_true", help="print a JSON document with every resolution")
    parser.add_argument(
        "--missing",
        choices=("warn", "error", "ignore"),
        default="warn",
        help="unresolved libraries: message on stderr (warn, default), exit 1 (error), or nothing",
    )
    parser.add_argument(
        "--exclude-installed",
        metavar="STATUS_FILE",
        help="leave out packages installed according to this dpkg status file",
    )
    parser.add_argument(
        "--ld-library-path",
        metavar="DIRS",
        help="colon-separated directories searched as LD_LIBRARY_PATH would be",
    )
    args = parser.parse_args(argv)

    from .libdeps import find_libdeps

    progress = sys.stderr.isatty()
    if progress:
        print(f"{prog}: scanning {' '.join(args.paths) or sys.prefix} ...", file=sys.stderr)
    try:
        result = find_libdeps(
            *args.paths,
            root=args.root,
            ld_library_path=args.ld_library_path.split(":") if args.ld_library_path else None,
            exclude_installed=args.exclude_installed,
        )
    except SnakepackError as err:
        return _fail(prog, str(err))
    for warning in result.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if args.missing != "ignore":
        for r in result.unresolved:
            print(f"{prog}: {r.name} needed by {r.needed_by}: {r.error}", file=sys.stderr)
        for path in result.unowned:
            print(f"{prog}: {path}: owned by no installed package", file=sys.stderr)
    if progress:
        print(
            f"{prog}: {len(result.files)} ELF files, {len(result.package_names)} packages",
            file=sys.stderr,
        )
    if args.json:
        import json

        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for name in result.package_names:
            print(name)
    return 1 if args.missing == "error" and result.unresolved else 0


# ---- wait-for-port ------------------------------------------------------------------------------


def wait_for_port_main(argv: list[str] | None = None) -> int:
    parser = _parser(
        "wait-for-port",
        "Wait until every HOST:PORT accepts TCP connections; exit 0, or 10 on timeout.",
        "wait-for-port --timeout 600 postgres:5432 redis:6379 && ./start",
    )
    parser.add_argument("endpoints", nargs="*", metavar="HOST:PORT")
    parser.parse_args(argv)
    return _fail("wait-for-port", "not built yet")


# ---- apt-install --------------------------------------------------------------------------------


def apt_install_main(argv: list[str] | None = None) -> int:
    parser = _parser(
        "apt-install",
        "apt-get update, install PKG ... without recommends, then remove apt's lists and caches.",
        "apt-install -r /usr/share/python3/app/pkgdeps.txt",
    )
    parser.add_argument("packages", nargs="*", metavar="PKG")
    parser.parse_args(argv)
    return _fail("apt-install", "not built yet")


# ---- python -m snakepack ------------------------------------------------------------------------

COMMANDS = {
    "find-libdeps": find_libdeps_main,
    "wait-for-port": wait_for_port_main,
    "apt-install": apt_install_main,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m snakepack {%s} ..." % ",".join(COMMANDS))
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"snakepack {__version__}")
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        return _fail("snakepack", f"unknown command {argv[0]!r} (choose from {', '.join(COMMANDS)})")
    return command(argv[1:])
