"""apt-get update + install + cleanup, with retries on transient network failures.

apt-get is always run with an argument list (never through a shell), after every package name
has been checked against Debian's grammar, and, once the lists are fresh, against the names in
them: apt-get reads a name it does not know as a pattern (`zlib1g.` installs zlib1g-dev) or an
action (`less-` removes less), so each name must be a package's exactly. --no-remove backs
this: an install, or a dry run, that would remove a package fails. Its own retry loop is turned off
(Acquire::Retries=0) so that the retry policy is this module's alone: a failure whose error
lines show a network or mirror problem is retried with exponential backoff; anything else (an
unknown package, a conflict) fails at once with apt's own message. Only apt's error lines
(E:, W:, Err:) are read for this: progress lines such as "Need to get 500 kB" say nothing.

A dry run changes nothing on the machine: apt reads fresh package lists into a temporary
directory (Dir::State::Lists), logs there too, writes no cache, simulates the install, and only
that directory is removed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from . import aptroot, environ
from .errors import AptError, SnakepackError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import TextIO

__all__ = [
    "AptError",
    "Unsatisfiable",
    "parse_requirements",
    "read_requirements",
    "validate",
    "check_retries",
    "install",
    "cleanup",
    "is_transient",
]

# Debian policy 5.6.1 (Package), 5.6.12 (Version); apt's name:arch, name=version, name/release.
_NAME = r"[a-z0-9][a-z0-9+.-]+"
_ARCH = r"[a-z0-9][a-z0-9-]*"
_VERSION = r"[A-Za-z0-9.+~:_-]+"
_RELEASE = r"[A-Za-z0-9.+_-]+"
PACKAGE = re.compile(rf"{_NAME}(?::{_ARCH})?(?:={_VERSION}|/{_RELEASE})?")
# A relation as dpkg writes it (find-libdeps --versions): alternatives "a | b", each a name with
# an optional version relation, "libc6 (>= 2.34)".
_ALTERNATIVE = rf"\s*({_NAME}(?::{_ARCH})?)\s*(?:\(\s*(<<|<=|=|>=|>>)\s*({_VERSION})\s*\))?\s*"
ALTERNATIVE = re.compile(_ALTERNATIVE)
RELATION = re.compile(rf"{_ALTERNATIVE}(?:\|{_ALTERNATIVE})*")

# What apt's error lines say when the network or the mirror failed: worth another try.
TRANSIENT = re.compile(
    r"Temporary failure resolving|Could not resolve|Could not connect|Connection failed|"
    r"Connection timed out|Connection reset|Unable to connect|Failed to fetch|"
    r"Unable to fetch some archives|Some index files failed to download|Hash Sum mismatch|"
    r"File has unexpected size|Undetermined Error|Bad header line|\b50[0234]\b|\b429\b"
)
# What no retry can fix (also read from the error lines only).
PERMANENT = re.compile(
    r"Unable to locate package|has no installation candidate|Unmet dependencies|"
    r"held broken packages|Conflicts:|Version '.*' for '.*' was not found|"
    r"Release '.*' for '.*' was not found|is not available, but is referred to|"
    r"Couldn't find any package|You don't have enough free space|Could not open lock file|"
    r"are you root\?|\b404\s+Not Found"
)

# apt-get's actions on a name: a trailing + installs, a trailing - removes, and a name with
# regular-expression characters (., ?, +, *, [...], ^, $, |) that no package has is a pattern.
_ACTION = {"-": "remove", "+": "install"}
_PATTERN = re.compile(r"[.?+*\[\]^$|]")

APT_OPTIONS = [
    "-o",
    "Acquire::Retries=0",
    "-o",
    "APT::Update::Error-Mode=any",  # apt >= 2.1: a failed index fails update
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
]


class NoSuchPackage(AptError):
    """A name that is no package's in apt's lists: apt-get would read it as an action or a
    pattern, or find nothing."""

    def __init__(self, name: str):
        base = _base(name)
        if base[-1] in _ACTION:
            how = f"apt-get would read it as: {_ACTION[base[-1]]} {base[:-1]}"
        elif _PATTERN.search(base):
            how = "apt-get would read it as a pattern and install whatever it matches"
        else:
            how = "apt's lists have no package of that name"
        self.step, self.returncode, self.reason, self.transient = (
            "install",
            100,
            f"{name}: no package has this exact name ({how})",
            False,
        )
        SnakepackError.__init__(self, self.reason)


class Unsatisfiable(AptError):
    """A relation the target's packages cannot satisfy: the version it needs is not the one
    the target offers (a builder of another Debian release)."""

    def __init__(self, relation: str, offers: list[str]):
        self.step, self.returncode, self.transient = "install", 100, False
        self.reason = f"{relation}: the target offers {', and '.join(offers)}"
        SnakepackError.__init__(self, self.reason)


def _candidates(names: list[str], options: list[str]) -> dict[str, str]:
    """The version apt would install of each of NAMES (their candidates, in the lists apt
    reads with OPTIONS), by name without architecture; names without a candidate are left out."""
    r = subprocess.run(
        ["apt-cache", *options, "policy", "--", *names], capture_output=True, text=True, errors="replace", env=_env()
    )
    if r.returncode != 0:
        raise AptError("install", r.returncode, f"apt-cache policy: {_reason(r.stdout + r.stderr)}", False)
    found, name = {}, None
    for line in r.stdout.splitlines():
        if not line.startswith(" ") and line.endswith(":"):
            name = line[:-1].split(":")[0]
        elif name and line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version != "(none)":
                found[name] = version
    return found


def _alternative(text: str) -> tuple[str, str | None, str | None]:
    m = ALTERNATIVE.fullmatch(text)
    if m is None:
        raise UsageError(f"{text.strip()!r} is not a package name with an optional (op version)")
    return m.group(1), m.group(2), m.group(3)


def choose(relations: list[str], options: list[str] | None = None) -> list[str]:
    """The package to install for each relation: its first alternative whose candidate satisfies
    the version relation (and its architecture, if it names one). Raises Unsatisfiable naming
    the relation and what the target offers when none does."""
    from .debversion import satisfies

    parsed = [[_alternative(a) for a in r.split("|")] for r in relations]
    candidates = _candidates(sorted({name for alts in parsed for name, _, _ in alts}), options or [])
    chosen = []
    for relation, alternatives in zip(relations, parsed, strict=True):
        for name, op, version in alternatives:
            offered = candidates.get(_base(name))
            if offered is not None and (op is None or version is None or satisfies(offered, op, version)):
                chosen.append(name)
                break
        else:
            offers = [
                f"{_base(n)} {candidates[_base(n)]}" if _base(n) in candidates else f"no {_base(n)}"
                for n, _, _ in alternatives
            ]
            raise Unsatisfiable(" ".join(relation.split()), list(dict.fromkeys(offers)))
    return chosen


def _resolve(packages: list[str], options: list[str]) -> list[str]:
    """PACKAGES with each relation replaced by the package chosen for it, every name checked."""
    relations = [p for p in packages if is_relation(p)]
    chosen = dict(zip(relations, choose(relations, options) if relations else [], strict=True))
    names = [chosen.get(p, p) for p in packages]
    _check_names(names, options)
    return list(dict.fromkeys(names))


def _base(name: str) -> str:
    """The package name of NAME[:ARCH][=VERSION|/RELEASE]."""
    return re.split(r"[:=/]", name, maxsplit=1)[0]


def parse_requirements(text: str) -> list[str]:
    """Package names from a requirements text: one or more per line, # comments, blank lines
    (a byte-order mark at the start is no part of the first name). A line with a version
    relation or alternatives (find-libdeps --versions: "libc6 (>= 2.34)", "libfoo1 | libbar1")
    holds one relation, or several separated by commas as in a Depends field."""
    names: list[str] = []
    for line in text.removeprefix("\ufeff").splitlines():
        line = line.split("#", 1)[0]
        if re.search(r"[(|,]", line):
            names.extend(relation.strip() for relation in line.split(",") if relation.strip())
        else:
            names.extend(line.split())
    return names


def read_requirements(path: str) -> list[str]:
    if path == "-":
        return parse_requirements(sys.stdin.read())
    try:
        with open(path, encoding="utf-8") as f:
            return parse_requirements(f.read())
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not a text file ({err.reason})") from err


def is_relation(name: str) -> bool:
    """Whether NAME is a relation ("libc6 (>= 2.34)", "a | b") rather than a plain name."""
    return not PACKAGE.fullmatch(name) and bool(RELATION.fullmatch(name))


def validate(names: list[str]) -> list[str]:
    """Raises UsageError naming the first name that is neither a Debian package name nor a
    relation."""
    for name in names:
        if not PACKAGE.fullmatch(name) and not RELATION.fullmatch(name):
            raise UsageError(
                f"{name!r} is not a Debian package name (name[:arch][=version|/release]) "
                "nor a relation (name (>= version) | name ...)"
            )
    return names


DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY = 2.0  # seconds, doubled after each retry


def check_retries(retries: int, delay: float) -> None:
    """Raises UsageError unless RETRIES and the first DELAY are numbers, 0 or more (nan and
    inf are not)."""
    if retries < 0 or not 0 <= delay < float("inf"):
        raise UsageError("--retries and --retry-delay must be numbers, 0 or more")


def retry_settings(retries: int | None = None, delay: float | None = None) -> tuple[int, float]:
    """The retries and first delay apt-install uses: RETRIES and DELAY when given, else
    $APT_INSTALL_RETRIES and $APT_INSTALL_RETRY_DELAY, else the defaults; checked."""
    if retries is None:
        retries = environ.number("APT_INSTALL_RETRIES", DEFAULT_RETRIES, int)
    if delay is None:
        delay = environ.number("APT_INSTALL_RETRY_DELAY", DEFAULT_RETRY_DELAY, float)
    check_retries(retries, delay)
    return retries, delay


def _env() -> dict[str, str]:
    """The environment of apt's commands: no questions, messages in English."""
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")


def _run(argv: list[str], out: TextIO) -> tuple[int, str]:
    """Runs apt-get, copying its output to OUT as it comes; returns (status, output)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            text=True,
            errors="replace",
        )
    except OSError as err:
        raise AptError(argv[1], 127, f"cannot run {argv[0]}: {err.strerror}", False) from err
    lines = []
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        out.write(line)
        out.flush()
        lines.append(line)
    return proc.wait(), "".join(lines)


def error_lines(output: str) -> list[str]:
    """apt's error and warning lines: E: and W: messages, Err: lines of failed fetches."""
    return [line for line in output.splitlines() if line.startswith(("E:", "W:", "Err:"))]


def is_transient(output: str) -> bool:
    """Whether a failed apt-get run, by its error lines, might succeed when tried again."""
    errors = "\n".join(error_lines(output))
    return not PERMANENT.search(errors) and bool(TRANSIENT.search(errors))


def _reason(output: str) -> str:
    errors = [line for line in error_lines(output) if not line.startswith("Err:")]
    return errors[0] if errors else (output.strip().splitlines() or ["no output"])[-1]


def _check_names(packages: list[str], options: list[str]) -> None:
    """Raises NoSuchPackage for the first of PACKAGES whose name is no package's (a Package:
    stanza, not a name only provided) in the lists apt reads with OPTIONS."""
    r = subprocess.run(
        ["apt-cache", *options, "pkgnames"], capture_output=True, text=True, errors="replace", env=_env()
    )
    if r.returncode != 0:
        raise AptError("install", r.returncode, f"apt-cache pkgnames: {_reason(r.stdout + r.stderr)}", False)
    known = set(r.stdout.split())
    for name in packages:
        if _base(name) not in known:
            raise NoSuchPackage(name)


def _step(step: str, argv: list[str], retries: int, delay: float, out: TextIO, log: Callable[[str], None]) -> str:
    """Runs one apt-get step, retrying transient failures; returns its output."""
    for attempt in range(retries + 1):
        status, output = _run(argv, out)
        # apt-get update can exit 0 while an index failed (older apt without Error-Mode)
        failed = status != 0 or (
            step == "update" and re.search(r"^(W|E): (Failed to fetch|Some index files failed)", output, re.M)
        )
        if not failed:
            return output
        transient = is_transient(output)
        if not transient or attempt == retries:
            raise AptError(step, status or 100, _reason(output), transient)
        wait = delay * 2**attempt
        log(f"apt-get {step} failed ({_reason(output)}); retrying in {wait:g} s ({attempt + 1} of {retries})")
        time.sleep(wait)
    raise AssertionError("unreachable")


def install(
    packages: list[str],
    *,
    recommends: bool = False,
    retries: int = DEFAULT_RETRIES,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    dry_run: bool = False,
    root: str | None = None,
    out: TextIO | None = None,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """apt-get update, then apt-get install -y PACKAGES, then cleanup() whatever happened.
    With ROOT, the packages go into that root filesystem instead (aptroot.py): apt downloads
    what ROOT's own dpkg database lacks, and they are unpacked and recorded there, the host's
    packages untouched.
    A package may be given as a relation ("libc6 (>= 2.34)", "libfoo1 | libbar1"): once the
    lists are fresh, its first alternative the target can satisfy is installed, and when none
    can, Unsatisfiable names it before anything is installed. Returns the packages apt
    installed (with dry_run: would install, changing nothing on the machine). Raises
    UsageError for a bad name (before anything runs), AptError when apt-get fails."""
    out = out or sys.stdout
    log = log or (lambda message: print(f"apt-install: {message}", file=sys.stderr))
    validate(packages)
    check_retries(retries, retry_delay)
    if not packages:
        return []
    recommends_flag = "--install-recommends" if recommends else "--no-install-recommends"
    with contextlib.ExitStack() as stack:
        flags = [recommends_flag]
        if root is not None:
            # apt weighs what to install against the root's dpkg database, read through the
            # confined layer into a copy (a dry run makes no database where there is none)
            status = stack.enter_context(aptroot.weighed_status(root, create=not dry_run))
            flags += ["-o", f"Dir::State::status={status}"]
        if dry_run:
            return _simulate(packages, flags, retries, retry_delay, out, log)
        try:
            _step("update", ["apt-get", *APT_OPTIONS, "update"], retries, retry_delay, out, log)
            packages = _resolve(packages, APT_OPTIONS)
            if root is not None:
                return _install_into(root, packages, flags, retries, retry_delay, out, log)
            argv = ["apt-get", *APT_OPTIONS, "install", "-y", "--no-remove", *flags, "--", *packages]
            output = _step("install", argv, retries, retry_delay, out, log)
        finally:
            cleanup()
    # "Setting up libfoo1:amd64 (1.2-3) ...": each package dpkg configured, its architecture
    # qualifier dropped as in apt's own Inst lines
    return [name.split(":")[0] for name in re.findall(r"^Setting up (\S+) \(", output, re.M)]


def _install_into(
    root: str,
    packages: list[str],
    flags: list[str],
    retries: int,
    delay: float,
    out: TextIO,
    log: Callable[[str], None],
) -> list[str]:
    """Downloads what ROOT lacks of PACKAGES into a temporary directory, then unpacks it there."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="apt-install-debs-") as archives:
        os.chmod(archives, 0o755)  # apt downloads as its unprivileged _apt user
        os.mkdir(os.path.join(archives, "partial"))
        argv = ["apt-get", *APT_OPTIONS, "-o", f"Dir::Cache::archives={archives}/", "install", "--download-only"]
        argv += ["-y", "--no-remove", *flags, "--", *packages]
        _step("install", argv, retries, delay, out, log)
        return aptroot.unpack(root, sorted(glob.glob(os.path.join(archives, "*.deb"))))


def _simulate(
    packages: list[str], flags: list[str], retries: int, delay: float, out: TextIO, log: Callable[[str], None]
) -> list[str]:
    """The dry run: fresh lists in a temporary directory, no package cache written, the
    install simulated. Returns the packages apt would install."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="apt-install-lists-") as lists:
        os.chmod(lists, 0o755)  # apt downloads as its unprivileged _apt user
        os.mkdir(os.path.join(lists, "partial"))
        # lists and apt's logs (a simulation still writes its planner's) go to the temporary
        # directory; no package cache is written at all
        private = [
            "-o",
            f"Dir::State::Lists={lists}",
            "-o",
            f"Dir::Log={lists}",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
        ]
        _step("update", ["apt-get", *APT_OPTIONS, *private, "update"], retries, delay, out, log)
        packages = _resolve(packages, [*APT_OPTIONS, *private])
        argv = [
            "apt-get",
            *APT_OPTIONS,
            *private,
            "install",
            "--simulate",
            "--no-remove",
            *flags,
            "--",
            *packages,
        ]
        output = _step("install", argv, retries, delay, out, log)
    return re.findall(r"^Inst (\S+)", output, re.M)


def cleanup(root: str = "/") -> None:
    """Removes what apt and dpkg leave behind in an image layer: the package lists (keeping
    the lists directory, partial/ and the lock), the .bin caches, downloaded .debs, apt's and
    dpkg's logs, and ldconfig's aux-cache (the inodes and times of the libraries it read, which
    differ between two builds of the same layer; ldconfig makes it again when it is missing)."""
    keep = {"partial", "lock"}
    patterns = [
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/archives/partial/*",
        "var/log/apt/*",
        "var/log/dpkg.log*",
        "var/log/alternatives.log*",
        aptroot.AUX_CACHE,
    ]
    for pattern in patterns:
        for path in glob.glob(os.path.join(root, pattern)):
            if os.path.basename(path) in keep:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                if pattern.startswith("var/lib/apt/lists/"):  # e.g. auxfiles/
                    shutil.rmtree(path, ignore_errors=True)
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
