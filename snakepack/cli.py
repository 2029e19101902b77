"""Console scripts: argument parsing only; the work happens in the library modules."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from . import __version__
from .errors import SnakepackError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import NoReturn, TextIO, TypeVar

    from .ports import EndpointResult

    N = TypeVar("N", int, float)


class _Parser(argparse.ArgumentParser):
    """Bad input gives one line naming the problem and exit status 2."""

    def error(self, message: str) -> NoReturn:
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


def _reconfigure(stream: TextIO, **kwargs: str) -> None:
    """Reconfigures a text stream if it can be (a replaced sys.stdout may not be)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(**kwargs)


def _env_number(name: str, default: N, kind: Callable[[str], N]) -> N:
    """The number in environment variable NAME (a fallback for a flag), or DEFAULT if unset."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise SnakepackError(f"{name}={value!r} is not a number") from None


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
    parser.add_argument(
        "--dlopen",
        choices=("required", "recommended", "suggested"),
        metavar="PRIORITY",
        help="also the libraries that FDO dlopen notes name with this priority or a higher one "
        "(required, recommended, suggested)",
    )
    what = parser.add_mutually_exclusive_group()  # what is printed
    what.add_argument("--json", action="store_true", help="print a JSON document with every resolution")
    what.add_argument(
        "--check",
        action="store_true",
        help="print nothing but why the files under PATH would not load in this root (a library "
        "not found, a symbol version such as GLIBC_2.38 not defined); exit 1 if any",
    )
    what.add_argument("--why", metavar="PKG", help="print the chains of libraries that pull PKG in")
    args = parser.parse_args(argv)
    # Paths and package names are bytes on Linux: undecodable ones go out as they came in.
    _reconfigure(sys.stdout, errors="surrogateescape")
    _reconfigure(sys.stderr, errors="surrogateescape")

    progress = sys.stderr.isatty()
    if progress:
        print(f"{prog}: scanning {' '.join(args.paths) or sys.prefix} ...", file=sys.stderr)
    try:
        from .libdeps import find_libdeps

        result = find_libdeps(
            *args.paths,
            root=args.root,
            ld_library_path=args.ld_library_path.split(":") if args.ld_library_path else None,
            exclude_installed=args.exclude_installed,
            dlopen=args.dlopen,
        )
    except SnakepackError as err:
        return _fail(prog, str(err))
    for warning in result.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if args.check:
        from .libdeps import check

        failures = check(result)
        for line in failures:
            print(f"{prog}: {line}", file=sys.stderr)
        return 1 if failures else 0
    if args.missing != "ignore":
        # the same object may be in several load trees: say each thing once
        for line in dict.fromkeys(f"{r.name} needed by {r.needed_by}: {r.error}" for r in result.unresolved):
            print(f"{prog}: {line}", file=sys.stderr)
        for path in result.unowned:
            print(f"{prog}: {path}: owned by no installed package", file=sys.stderr)
    if progress:
        print(
            f"{prog}: {len(result.files)} ELF files, {len(result.package_names)} packages",
            file=sys.stderr,
        )
    try:
        if args.why:
            from .libdeps import why

            chains = why(result, args.why)
            if not chains:
                return _fail(prog, f"{args.why}: pulled in by nothing under {' '.join(args.paths) or sys.prefix}", 1)
            for line in chains:
                print(line)
        elif args.json:
            import json

            json.dump(result.to_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for name in result.package_names:
                print(name)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (find-libdeps --json | head): no traceback, no second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 1 if args.missing == "error" and result.unresolved else 0


# ---- wait-for-port ------------------------------------------------------------------------------


class _Terminated(BaseException):
    """Raised by the SIGTERM handler so the wait ends at once, also as PID 1 (where the kernel
    drops signals that have no handler)."""


_sigterm = {"raised": False, "leaving": False}


def _on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    # Raised once, to unwind the wait; a second SIGTERM, or one that comes once the command is
    # leaving, ends the process at once: no unwinding is left to do, and an exception raised
    # there could only escape as a traceback.
    if _sigterm["raised"] or _sigterm["leaving"]:
        os._exit(143)
    _sigterm["raised"] = True
    raise _Terminated()


def _on_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    # Python discards an exception raised inside a finalizer or a weakref callback (importlib's
    # module locks have one): a SIGTERM handled there would be lost and the wait would go on.
    # The process ends here instead, with what it has written so far.
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, _Terminated):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, RuntimeError):  # closed, or a reentrant flush
                pass
        os._exit(143)
    sys.__unraisablehook__(unraisable)


def _running_for() -> float:
    """Seconds since this process started (10 ms resolution): the deadline of wait-for-port
    counts from when the command was started, interpreter start-up included."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def _raise_open_files_limit() -> None:
    """Every endpoint needs a socket: the soft limit on open files goes up to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit is more than the kernel allows
            pass


def wait_for_port_main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the wait (exit 143), also as PID 1, where the kernel drops a signal that has
    # no handler: the handler goes in before anything else happens, and stays.
    try:
        sys.unraisablehook = _on_unraisable
        signal.signal(signal.SIGTERM, _on_sigterm)
        status = _wait_for_port(sys.argv[1:] if argv is None else argv)
        _sigterm["leaving"] = True
    except KeyboardInterrupt:
        status = 130
    except _Terminated:
        status = 143
    _sigterm["leaving"] = True
    return status


def _print_json(results: list[EndpointResult]) -> None:
    """wait-for-port --json: one document, every endpoint with what became of it."""
    import json

    doc = {
        "ready": all(r.ready for r in results),
        "endpoints": [
            {
                "endpoint": str(r.endpoint),
                "ready": r.ready,
                "elapsed_ms": None if r.elapsed is None else round(r.elapsed * 1000, 3),
                "attempts": r.attempts,
                "last_error": None if r.ready else r.detail,
            }
            for r in results
        ],
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _wait_for_port(argv: list[str]) -> int:
    prog = "wait-for-port"
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = _parser(
        prog,
        "Wait until every endpoint accepts connections, all at once; exit 0, or 10 when the "
        "timeout expires first. Endpoints: HOST:PORT, [IPv6]:PORT, http(s)://HOST:PORT/PATH "
        "(ready on a 2xx/3xx answer), tls://HOST:PORT (a TLS handshake), unix:/PATH, file:/PATH (the file exists), "
        "redis://, postgres://, mysql:// and amqp://HOST[:PORT] (the server answers and is not "
        "loading, starting or recovering; no credentials needed). With -- CMD, run CMD once "
        "they are ready. With --probe, try each endpoint once: exit 0 or 1.",
        "wait-for-port --timeout 60 postgres:5432 redis:6379 -- ./start-app",
    )
    parser.add_argument("endpoints", nargs="*", metavar="ENDPOINT", help="default: $WAIT_FOR_PORTS (comma or space separated)")
    parser.add_argument("-t", "--timeout", type=float, metavar="SECONDS", help="give up after this long; 0 or inf waits forever (default 600, $WAIT_FOR_PORT_TIMEOUT)")
    parser.add_argument("--period", type=float, metavar="SECONDS", help="time between attempts that get no answer, and how long one attempt may take (default 0.5, at least 0.001, $WAIT_FOR_PORT_PERIOD)")
    parser.add_argument("--stable", type=float, default=0, metavar="MS", help="an endpoint must keep accepting for MS milliseconds")
    parser.add_argument("--invert", action="store_true", help="wait until nothing accepts any more")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    parser.add_argument("--probe", action="store_true", help="one attempt per endpoint, bounded by --timeout (default 5 s); exit 0 when all are ready, 1 when not: a HEALTHCHECK command")
    parser.add_argument("--json", action="store_true", help="print one JSON document: per endpoint ready, elapsed_ms, attempts, last_error")
    parser.add_argument("--cacert", metavar="FILE", help="https:// and tls://: trust the CA certificates of this PEM file (default: $SSL_CERT_FILE, $SSL_CERT_DIR, else the system's)")
    parser.add_argument("--insecure", action="store_true", help="https:// and tls://: check no certificate")
    args = parser.parse_args(argv)
    _reconfigure(sys.stderr, errors="surrogateescape")
    if args.probe and (command or args.stable):
        return _fail(prog, "--probe tries each endpoint once: it takes no --stable and no -- CMD")

    try:
        from .ports import PROBE_TIMEOUT, WaitTimeout, probe, wait_for_port
    except SnakepackError as err:  # the C extension cannot load
        return _fail(prog, str(err))
    try:
        if args.probe:
            endpoints = args.endpoints or os.environ.get("WAIT_FOR_PORTS", "").replace(",", " ").split()
            if not endpoints:
                raise SnakepackError("no endpoint given (arguments or $WAIT_FOR_PORTS)")
            results = probe(
                *endpoints,
                timeout=PROBE_TIMEOUT if args.timeout is None else args.timeout,
                invert=args.invert,
                cacert=args.cacert,
                insecure=args.insecure,
            )
            if not args.quiet:
                for r in results:
                    if not r.ready:
                        print(f"{prog}: {r.endpoint} not {'closed' if args.invert else 'ready'}: {r.detail}", file=sys.stderr)
            if args.json:
                _print_json(results)
            return 0 if all(r.ready for r in results) else 1
        timeout = args.timeout if args.timeout is not None else _env_number("WAIT_FOR_PORT_TIMEOUT", 600.0, float)
        period = args.period if args.period is not None else _env_number("WAIT_FOR_PORT_PERIOD", 0.5, float)
        endpoints = args.endpoints or os.environ.get("WAIT_FOR_PORTS", "").replace(",", " ").split()
        if not endpoints:
            raise SnakepackError("no endpoint given (arguments or $WAIT_FOR_PORTS)")
        if not 0 <= args.stable < math.inf:
            raise SnakepackError(f"--stable must be a number of milliseconds, 0 or more, not {args.stable:g}")

        def report(endpoint: object, event: str, elapsed: float, detail: str | None) -> None:
            if args.quiet:
                return
            if event == "done":
                state = "stopped accepting" if args.invert else "is ready"
                print(f"{prog}: {endpoint} {state} after {elapsed:.3f} s", file=sys.stderr)
            elif event == "crowded":
                print(f"{prog}: {detail}", file=sys.stderr)
            else:
                print(f"{prog}: {endpoint}: {detail}; will keep trying", file=sys.stderr)

        _raise_open_files_limit()
        # What is left of the timeout, at least a moment. 0 and inf wait forever; nan and
        # negative numbers go as they are, for wait_for_port to refuse.
        left = max(timeout - _running_for(), 0.001) if 0 < timeout < math.inf else timeout
        results = wait_for_port(
            *endpoints,
            timeout=left,
            period=period,
            stable=args.stable / 1000,
            invert=args.invert,
            on_event=report,
            cacert=args.cacert,
            insecure=args.insecure,
        )
        if args.json:
            _print_json(results)
    except WaitTimeout as err:
        if not args.quiet:
            for r in err.pending:
                print(f"{prog}: {r.endpoint} still {'accepting' if args.invert else 'down'} after {timeout:g} s: {r.detail}", file=sys.stderr)
        if args.json:
            _print_json(err.results)
        return 10
    except SnakepackError as err:
        return _fail(prog, str(err))
    if command:
        try:
            os.execvp(command[0], command)
        except OSError as err:
            return _fail(prog, f"{command[0]}: {err.strerror}", 127)
    return 0


# ---- apt-install --------------------------------------------------------------------------------


def apt_install_main(argv: list[str] | None = None) -> int:
    prog = "apt-install"
    parser = _parser(
        prog,
        "apt-get update, apt-get install -y PKG ... (without recommends), then remove apt's "
        "lists, caches and logs so the image layer stays small, also when the install fails. "
        "Transient network failures are retried with backoff; an unknown package or a "
        "conflict fails at once.",
        "apt-install -r /usr/share/python3/app/pkgdeps.txt libpq5",
    )
    parser.add_argument("packages", nargs="*", metavar="PKG", help="name[:arch][=version|/release]")
    parser.add_argument("-r", "--requirements", action="append", default=[], metavar="FILE", help="read package names from FILE (repeatable; - for stdin): several per line, # comments")
    parser.add_argument("--install-recommends", dest="recommends", action="store_true", help="install recommended packages too")
    parser.add_argument("--no-install-recommends", dest="recommends", action="store_false", help="the default")
    parser.add_argument("--retries", type=int, metavar="N", help="retries of a step after a transient failure (default 3, $APT_INSTALL_RETRIES)")
    parser.add_argument("--retry-delay", type=float, metavar="SECONDS", help="first delay between retries, doubled each time (default 2, $APT_INSTALL_RETRY_DELAY)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be installed, install nothing")
    args = parser.parse_args(argv)

    from .apt import AptError, check_retries, install, read_requirements, validate

    try:
        retries = args.retries if args.retries is not None else _env_number("APT_INSTALL_RETRIES", 3, int)
        delay = args.retry_delay if args.retry_delay is not None else _env_number("APT_INSTALL_RETRY_DELAY", 2.0, float)
        check_retries(retries, delay)
        names = list(args.packages)
        for path in args.requirements:
            names.extend(read_requirements(path))
        validate(names)
        if not names:
            print(f"{prog}: nothing to install", file=sys.stderr)
            return 0
        chosen = install(names, recommends=args.recommends, retries=retries, retry_delay=delay, dry_run=args.dry_run)
    except AptError as err:
        return _fail(prog, str(err), err.returncode or 1)
    except SnakepackError as err:
        return _fail(prog, str(err))
    if args.dry_run:
        print(f"{prog}: would install: {' '.join(chosen) or 'nothing new'}")
    return 0


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
