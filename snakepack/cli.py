"""Console scripts: argument parsing only; the work happens in the library modules."""

from __future__ import annotations

import argparse
import errno
import io
import math
import os
import signal
import sys
from types import FrameType

from . import __version__
from .errors import SnakepackError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import NoReturn, TextIO

    from .ports import EndpointResult
    from .shlibs import MinimumVersion


class _Parser(argparse.ArgumentParser):
    """Bad input gives one line naming the problem and exit status 2; .failure keeps it."""

    failure: str | None = None

    def error(self, message: str) -> NoReturn:
        self.failure = message
        self.exit(2, f"{self.prog}: {message}\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Measures the terminal as shutil.get_terminal_size does, without importing shutil:
    argparse makes a formatter for every option added, and the import alone was a twentieth of
    a find-libdeps run."""

    def __init__(self, prog: str) -> None:
        stdout = sys.__stdout__
        try:
            columns = (
                int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(stdout.fileno() if stdout else -1).columns
            )
        except (ValueError, OSError):
            columns = 80
        super().__init__(prog, width=columns - 2)


def _parser(prog: str, description: str, example: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=_Formatter,
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


def _write_out(text: str) -> OSError | None:
    """Writes TEXT to standard output, straight to its descriptor: when stdout cannot take it
    (closed, full, its reader gone) nothing stays buffered to fail again at exit, as a
    traceback. Returns None, or the error (errno EPIPE when the reader is gone)."""
    try:
        if sys.stdout is None:  # descriptor 1 was closed when Python started
            return OSError(errno.EBADF, "stdout is closed")
        try:
            fd = sys.stdout.fileno()
        except io.UnsupportedOperation:  # a stream in memory
            sys.stdout.write(text)
            sys.stdout.flush()
            return None
        sys.stdout.flush()
        data = text.encode(sys.stdout.encoding or "utf-8", "surrogateescape")
        while data:
            data = data[os.write(fd, data) :]
    except OSError as err:
        return err
    except ValueError as err:  # a closed file object
        return OSError(errno.EBADF, str(err))
    return None


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
    parser.add_argument(
        "--root", default="/", metavar="DIR", help="analyse the root filesystem DIR as if chrooted into it"
    )
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
    parser.add_argument(
        "--versions",
        action="store_true",
        help="print each package with the minimum version its users need, in Debian's syntax "
        "(libc6 (>= 2.34)), as dpkg-shlibdeps computes it from the root's symbols and shlibs "
        "files; with --json, add them to the document",
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
    what.add_argument(
        "--sbom",
        action="store_true",
        help="print a CycloneDX 1.6 SBOM: the Python distributions, the Debian packages and the "
        "bundled libraries, and which needs which (with --versions, each package's minimum)",
    )
    args = parser.parse_args(argv)
    if args.why == "":
        parser.error("--why needs a package name")
    if args.versions and (args.check or args.why is not None):
        parser.error("--versions changes the package list and --json, not --check or --why")
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
            versions=args.check or args.json,  # the package list, --sbom and --why need none
            symbols=args.versions,
        )
    except SnakepackError as err:
        return _fail(prog, str(err))
    minimum: list[MinimumVersion] = []
    if args.versions:
        from .shlibs import minimum_versions

        minimum, damaged = minimum_versions(result)
        result.warnings.extend(damaged)
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
    if args.why is not None:
        from .libdeps import why

        chains = why(result, args.why)
        if not chains:
            return _fail(prog, f"{args.why}: pulled in by nothing under {' '.join(args.paths) or sys.prefix}", 1)
        text = "".join(f"{line}\n" for line in chains)
    elif args.sbom:
        import json

        from .sbom import sbom

        try:
            text = json.dumps(sbom(result, minimum if args.versions else None), indent=2) + "\n"
        except SnakepackError as err:
            return _fail(prog, str(err))
    elif args.json:
        import json

        document = result.to_json()
        if args.versions:
            document["versions"] = [m.to_json() for m in minimum]
        text = json.dumps(document, indent=2) + "\n"
    elif args.versions:
        text = "".join(f"{m.depends}\n" for m in minimum)
    else:
        text = "".join(f"{name}\n" for name in result.package_names)
    failed = _write_out(text)
    if failed is not None and failed.errno == errno.EPIPE:
        return 141  # the reader went away (find-libdeps --json | head): quiet, as SIGPIPE would be
    if failed is not None:
        return _fail(prog, f"cannot write the output: {failed.strerror}", 1)
    return 1 if args.missing == "error" and result.unresolved else 0


# ---- wait-for-port ------------------------------------------------------------------------------


class _Terminated(BaseException):
    """Raised by the SIGTERM (and SIGINT) handler outside the wait, so the command ends at once,
    also as PID 1 (where the kernel drops signals that have no handler); args[0] is the exit
    status."""


# While the wait runs, SIGTERM and SIGINT end it through a pipe instead of raising: the wait then
# returns what it saw, for the --json document. Elsewhere the handler raises _Terminated.
_signals = {"raised": False, "leaving": False, "fd": -1, "signum": 0}


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Once only, to end the wait or unwind; a second signal, or one that comes once the command
    # is leaving, ends the process at once: no unwinding is left to do, and an exception raised
    # there could only escape as a traceback.
    if _signals["raised"] or _signals["leaving"]:
        os._exit(128 + signum)
    _signals["raised"] = True
    if _signals["fd"] >= 0:
        _signals["signum"] = signum
        os.write(_signals["fd"], b"\0")
        return
    raise _Terminated(128 + signum)


def _on_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    # Python discards an exception raised inside a finalizer or a weakref callback (importlib's
    # module locks have one): a signal handled there would be lost and the command would go on.
    # The process ends here instead, with what it has written so far.
    if isinstance(unraisable.exc_value, _Terminated):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError, RuntimeError):  # closed, or a reentrant flush
                pass
        os._exit(unraisable.exc_value.args[0])
    sys.__unraisablehook__(unraisable)


def _json_requested(argv: list[str]) -> bool:
    """Whether ARGV asks for --json (as argparse reads it: a unique prefix such as --js will
    do), looked at before the arguments are parsed, so that a usage error gets its document."""
    for arg in argv:
        if arg == "--":
            break
        if len(arg) > 2 and "--json".startswith(arg):
            return True
    return False


def wait_for_port_main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the wait (exit 143), also as PID 1, where the kernel drops a signal that has
    # no handler: the handler goes in before anything else happens, and stays. SIGINT (130)
    # gets it too, unless the process was started with SIGINT ignored.
    argv = sys.argv[1:] if argv is None else argv
    try:
        sys.unraisablehook = _on_unraisable
        signal.signal(signal.SIGTERM, _on_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_signal)
        status = _wait_for_port(argv)
    except (_Terminated, KeyboardInterrupt) as stop:
        _signals["leaving"] = True
        status = stop.args[0] if isinstance(stop, _Terminated) else 130
        if _json_requested(argv):
            _print_json("wait-for-port", [], _signal_error(status - 128))
    _signals["leaving"] = True
    return status


def _signal_error(signum: int) -> str:
    return f"ended by {signal.Signals(signum).name}"


def _print_json(prog: str, results: list[EndpointResult], error: str | None = None) -> None:
    """wait-for-port --json: one document, every endpoint with what became of it, and ERROR when
    the command did not wait to the end; when stdout cannot take it, one line says so."""
    import json

    from .ports import results_document

    failed = _write_out(json.dumps(results_document(results, error), indent=2) + "\n")
    if failed is not None:
        print(f"{prog}: cannot print the --json document: {failed.strerror}", file=sys.stderr)


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
    parser.add_argument(
        "endpoints", nargs="*", metavar="ENDPOINT", help="default: $WAIT_FOR_PORTS (comma or space separated)"
    )
    parser.add_argument(
        "-t",
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up after this long; 0 or inf waits forever (default 600, $WAIT_FOR_PORT_TIMEOUT)",
    )
    parser.add_argument(
        "--period",
        type=float,
        metavar="SECONDS",
        help="time between attempts that get no answer, and how long one attempt may take (default 0.5, at least 0.001, $WAIT_FOR_PORT_PERIOD)",
    )
    parser.add_argument(
        "--stable", type=float, default=0, metavar="MS", help="an endpoint must keep accepting for MS milliseconds"
    )
    parser.add_argument("--invert", action="store_true", help="wait until nothing accepts any more")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one line on stderr per event (resolved, each attempt and what it met, ready, the deadline), timed from the start; wins over -q",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="one attempt per endpoint, bounded by --timeout (default 5 s); exit 0 when all are ready, 1 when not: a HEALTHCHECK command",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document however it ends: ready, error, and per endpoint ready, elapsed_ms, attempts, last_error",
    )
    parser.add_argument(
        "--cacert",
        metavar="FILE",
        help="https:// and tls://: trust the CA certificates of this PEM file (default: $SSL_CERT_FILE, $SSL_CERT_DIR, else the system's)",
    )
    parser.add_argument("--insecure", action="store_true", help="https:// and tls://: check no certificate")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code == 2 and _json_requested(argv):
            _print_json(prog, [], parser.failure)
        raise
    _reconfigure(sys.stderr, errors="surrogateescape")
    quiet = args.quiet and not args.verbose

    def fail(message: str) -> int:
        if args.json:
            _print_json(prog, [], message)
        return _fail(prog, message)

    if args.probe and (command or args.stable):
        return fail("--probe tries each endpoint once: it takes no --stable and no -- CMD")
    try:
        from . import ports
        from .ports import PROBE_TIMEOUT, WaitCancelled, WaitTimeout, probe, wait_for_port
    except SnakepackError as err:  # the C extension cannot load
        return fail(str(err))

    ready = "stopped accepting" if args.invert else "is ready"
    offset = ports.process_age()  # verbose lines are timed from the start of the command
    held: dict[object, tuple[str, float, int]] = {}  # endpoint: its last attempt line, when, lines held back since

    def verbose_line(endpoint: object, event: str, elapsed: float, detail: str | None) -> None:
        at = offset + elapsed
        what = {
            "done": ready,
            "resolved": f"resolved: {detail}",
            "deadline": "deadline reached",
        }.get(event, detail)
        if event == "unresolved":  # the attempt that met it says so
            return
        if event == "attempt" and detail:
            # A refused port is tried every 10 ms: an attempt that met what the one before met
            # is held back, and one line a second says how many were.
            outcome = detail.split(":", 1)[-1].split("; next attempt in")[0]
            last, printed, count = held.get(endpoint, ("", -1.0, 0))
            if outcome == last and at - printed < 1.0:
                held[endpoint] = (last, printed, count + 1)
                return
            held[endpoint] = (outcome, at, 0)
            if outcome == last and count:
                what = f"{detail} (and {count} like it before, not shown)"
        print(f"+{at:.3f}{'' if endpoint is None else f' {endpoint}'} {what}", file=sys.stderr)

    def report(endpoint: object, event: str, elapsed: float, detail: str | None) -> None:
        if args.verbose:
            verbose_line(endpoint, event, elapsed, detail)
        elif quiet:
            return
        elif event == "done":
            print(f"{prog}: {endpoint} {ready} after {elapsed:.3f} s", file=sys.stderr)
        elif event == "crowded":
            print(f"{prog}: {detail}", file=sys.stderr)
        elif event == "unresolved":
            print(f"{prog}: {endpoint}: {detail}; will keep trying", file=sys.stderr)

    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    _signals["fd"] = stop_w
    try:
        endpoints = args.endpoints or ports.endpoints_from_env()
        if not endpoints:
            raise SnakepackError("no endpoint given (arguments or $WAIT_FOR_PORTS)")
        tls = {"cacert": args.cacert, "insecure": args.insecure}
        if args.probe:
            timeout = PROBE_TIMEOUT if args.timeout is None else args.timeout
            results = probe(
                *endpoints,
                timeout=timeout,
                invert=args.invert,
                on_event=report if args.verbose else None,
                verbose=args.verbose,
                cancel_fd=stop_r,
                **tls,
            )
            status = 0 if all(r.ready for r in results) else 1
            if not quiet:
                for r in results:
                    if not r.ready:
                        print(
                            f"{prog}: {r.endpoint} not {'closed' if args.invert else 'ready'}: {r.detail}",
                            file=sys.stderr,
                        )
        else:
            timeout = args.timeout if args.timeout is not None else ports.timeout_from_env()
            period = args.period if args.period is not None else ports.period_from_env()
            if not 0 <= args.stable < math.inf:
                raise SnakepackError(f"--stable must be a number of milliseconds, 0 or more, not {args.stable:g}")
            ports.raise_open_files_limit()
            results = wait_for_port(
                *endpoints,
                timeout=ports.left_since_start(timeout),
                period=period,
                stable=args.stable / 1000,
                invert=args.invert,
                on_event=report,
                verbose=args.verbose,
                cancel_fd=stop_r,
                **tls,
            )
            status = 0
    except WaitTimeout as err:
        results, status = err.results, 10
        if not quiet:
            for r in err.pending:
                print(
                    f"{prog}: {r.endpoint} still {'accepting' if args.invert else 'down'} after {timeout:g} s: {r.detail}",
                    file=sys.stderr,
                )
    except WaitCancelled as err:  # a signal: its status is set below
        results, status = err.results, 0
    except SnakepackError as err:
        return fail(str(err))
    finally:
        _signals["fd"] = -1
        os.close(stop_r)
        os.close(stop_w)
    error = None
    if _signals["signum"]:  # also one that came as the wait returned: it ends the command
        status, error = 128 + _signals["signum"], _signal_error(_signals["signum"])
    if args.json:
        _print_json(prog, results, error)
    if status == 0 and command:
        try:
            os.execvp(command[0], command)
        except OSError as err:
            return _fail(prog, f"{command[0]}: {err.strerror}", 127)
    return status


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
    parser.add_argument(
        "packages",
        nargs="*",
        metavar="PKG",
        help="name[:arch][=version|/release], or a relation as find-libdeps --versions prints it: "
        "'libc6 (>= 2.34)', 'libfoo1 | libbar1' (checked against what the target offers)",
    )
    parser.add_argument(
        "-r",
        "--requirements",
        action="append",
        default=[],
        metavar="FILE",
        help="read package names from FILE (repeatable; - for stdin): several per line, or one "
        "relation per line, # comments",
    )
    parser.add_argument(
        "--install-recommends", dest="recommends", action="store_true", help="install recommended packages too"
    )
    parser.add_argument("--no-install-recommends", dest="recommends", action="store_false", help="the default")
    parser.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="retries of a step after a transient failure (default 3, $APT_INSTALL_RETRIES)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        metavar="SECONDS",
        help="first delay between retries, doubled each time (default 2, $APT_INSTALL_RETRY_DELAY)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be installed, install nothing")
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="install into the root filesystem DIR instead: what its dpkg database lacks, unpacked "
        "and recorded there without dpkg and without running maintainer scripts",
    )
    args = parser.parse_args(argv)

    from .apt import AptError, install, read_requirements, retry_settings, validate

    try:
        retries, delay = retry_settings(args.retries, args.retry_delay)
        names = list(args.packages)
        for path in args.requirements:
            names.extend(read_requirements(path))
        validate(names)
        if not names:
            print(f"{prog}: nothing to install", file=sys.stderr)
            return 0
        chosen = install(
            names, recommends=args.recommends, retries=retries, retry_delay=delay, dry_run=args.dry_run, root=args.root
        )
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
