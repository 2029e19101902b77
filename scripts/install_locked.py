#!/usr/bin/env python3
"""Installs the pins of a lock file (locks/NAME-X.Y.txt, made by scripts/update-pins) into a
Python environment, every file checked against the lock's sha256, nothing resolved:

    install-locked [--python PY] [--locks DIR] [--target DIR] [-v] LOCK ...

LOCK is a lock file's path, or a lock's name (tools, test, packing-proof, ...): DIR/NAME-X.Y.txt
for the X.Y of PY (default: this Python). Wheels only, except the packages the lock names on its
"# from source:" line: those are built from their sdists without build isolation (an isolated
build environment is resolved afresh and never hash-checked), against the build dependencies
pinned in NAME-build-X.Y.txt beside it, which go to a temporary directory on PYTHONPATH, not into
the environment. Afterwards every pin that applies to PY is checked to be what is installed.

Any failure is one line naming the lock and the package (a pin without a hash, a file whose hash
differs, a version the index no longer serves, a dependency the lock lacks), and exit status 1;
a usage error exits 2. Only the standard library: the image builds copy this file in alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROG = "install-locked"
LOCKS = Path(__file__).resolve().parent.parent / "locks"
PIN = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(.*))?$")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
VERBOSE = False


class Failure(Exception):
    """One line for the user: what is wrong, naming the lock and the package."""


@dataclass
class Pin:
    name: str
    version: str
    marker: str
    hashes: int
    line: int


@dataclass
class Lock:
    path: Path
    python: str = ""
    from_source: list[str] = field(default_factory=list)
    pins: list[Pin] = field(default_factory=list)

    def __str__(self) -> str:
        return display(self.path)


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> Lock:
    """Parses a lock: its header (python, from source) and every pin with its hashes. A line that
    is neither a comment, a pin nor a hash is an error: a lock is exact or it is not a lock."""
    lock = Lock(path)
    try:
        if not path.is_file():
            raise Failure(f"{display(path)}: no such lock (scripts/update-pins makes the locks)")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Failure(f"{display(path)}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    logical: list[tuple[int, str]] = []  # continued lines joined, with the first one's number
    joining = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# python:"):
            lock.python = line.split(":", 1)[1].strip()
        elif line.startswith("# from source:"):
            lock.from_source = line.split(":", 1)[1].split("(")[0].split()
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if joining:
            logical[-1] = (logical[-1][0], logical[-1][1] + " " + line.rstrip("\\"))
        elif line:
            logical.append((number, line.rstrip("\\")))
        joining = line.endswith("\\")
    for number, line in logical:
        requirement, *options = re.split(r"\s+(?=--)", line.strip())
        m = PIN.match(requirement.strip())
        name = re.split(r"[\s<>=!~;@\[]", requirement, maxsplit=1)[0] or requirement
        if not m:
            raise Failure(
                f"{lock}: {name}: line {number}: not pinned with == (a lock pins each package to one version)"
            )
        hashes = 0
        for option in options:
            if not HASH.fullmatch(option.strip()):
                raise Failure(f"{lock}: {name}: line {number}: {option.split()[0]}: not a sha256 hash")
            hashes += 1
        lock.pins.append(Pin(m[1], m[3], (m[4] or "").strip(), hashes, number))
    if not lock.python:
        raise Failure(f"{lock}: no '# python: X.Y' line: not a lock made by scripts/update-pins")
    for p in lock.pins:
        if not p.hashes:
            raise Failure(f"{lock}: {p.name}: no --hash (every pin needs the sha256 of its files)")
    return lock


def find_lock(spec: str, locks: Path, version: str) -> Path:
    if "/" in spec or spec.endswith(".txt"):
        return Path(spec)
    return locks / f"{spec}-{version}.txt"


def interpreter_version(python: str) -> str:
    try:
        r = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
    except OSError as e:
        raise Failure(f"{python}: cannot run: {e.strerror}") from None
    if r.returncode != 0:
        raise Failure(
            f"{python}: cannot run: {(r.stderr.strip().splitlines() or ['exit status %d' % r.returncode])[-1]}"
        )
    return r.stdout.strip()


def explain(lock: Lock, output: str) -> str | None:
    """The one line that says which package of LOCK pip refused, from pip's own report."""
    lines = output.splitlines()

    def following(i: int) -> str:
        for later in lines[i + 1 :]:
            m = re.match(r"\s+([A-Za-z0-9][A-Za-z0-9._-]*)", later)
            if m:
                return m[1]
        return "?"

    for i, line in enumerate(lines):
        if "DO NOT MATCH THE HASHES" in line:
            return f"{lock}: {following(i)}: the file served does not match the lock's hash"
        if "Hashes are required in --require-hashes mode" in line or "must have their versions pinned" in line:
            return f"{lock}: {following(i)}: needed, but not pinned in the lock (run scripts/update-pins)"
        m = re.search(r"No matching distribution found for ([^\s;]+)", line)
        if m:
            return f"{lock}: {m[1]}: not served by the index (any more?): run scripts/update-pins"
        m = re.search(r"Could not find a version that satisfies the requirement ([^\s;]+)", line)
        if m and not any("No matching distribution" in x for x in lines):
            return f"{lock}: {m[1]}: not served by the index (any more?): run scripts/update-pins"
    return None


def pip(python: str, lock: Lock, args: list[str], env: dict[str, str] | None = None) -> None:
    argv = [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--require-hashes",
        *args,
        "-r",
        str(lock.path),
    ]
    if not VERBOSE:
        argv.insert(4, "-q")
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if VERBOSE or r.returncode != 0:
        explained = explain(lock, r.stdout) if r.returncode != 0 else None
        if not explained:  # a build that failed, say: pip's own words are what helps
            sys.stderr.write("".join(r.stdout.splitlines(True)[-60:]))
        if r.returncode != 0:
            raise Failure(explained or f"{lock}: pip failed with exit status {r.returncode}")


# Run by the target interpreter: what is installed, and which pins apply to it (pip's own copy of
# packaging evaluates the markers; without it, a pin with a marker is taken to apply).
CHECK = """
import json, sys, importlib.metadata as md
try:
    from pip._vendor.packaging.markers import Marker
except ImportError:
    Marker = None
pins = json.loads(sys.argv[1])
have = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name:
        have[name.lower().replace("_", "-").replace(".", "-")] = d.version
out = []
for name, version, marker in pins:
    if marker and Marker is not None and not Marker(marker).evaluate():
        continue
    out.append([name, version, have.get(name)])
print(json.dumps(out))
"""


def check_installed(python: str, lock: Lock) -> None:
    pins = [[canonical(p.name), p.version, p.marker] for p in lock.pins]
    r = subprocess.run([python, "-c", CHECK, json.dumps(pins)], capture_output=True, text=True)
    if r.returncode != 0:
        raise Failure(f"{lock}: cannot list what {python} has installed")
    for name, version, installed in json.loads(r.stdout):
        if installed != version:
            raise Failure(f"{lock}: {name}: {installed or 'nothing'} installed, the lock pins {version}")


def install(python: str, lock: Lock, build: Lock | None, target: str | None) -> None:
    args = ["--no-build-isolation", "--only-binary", ":all:"]
    if lock.from_source:
        args += ["--no-binary", ",".join(lock.from_source)]
    if target:
        args += ["--target", target]
    if build is None:
        pip(python, lock, args)
    else:
        with tempfile.TemporaryDirectory(prefix="install-locked-build-") as deps:
            pip(python, build, ["--only-binary", ":all:", "--target", deps, "--no-deps"])
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [deps, env.get("PYTHONPATH")]))
            env["PATH"] = os.pathsep.join([os.path.join(deps, "bin"), env.get("PATH", "")])
            pip(python, lock, args, env)
    if not target:
        check_installed(python, lock)


def main(argv: list[str] | None = None) -> int:
    global VERBOSE
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="LOCK", help="a lock file, or a lock's name (DIR/NAME-X.Y.txt)")
    parser.add_argument("--python", default=sys.executable, help="the environment's interpreter (default: this one)")
    parser.add_argument(
        "--locks", type=Path, default=LOCKS, metavar="DIR", help=f"where named locks are (default: {display(LOCKS)})"
    )
    parser.add_argument("--target", metavar="DIR", help="install into DIR (pip --target), not the environment")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pip's output")
    args = parser.parse_args(argv)
    VERBOSE = args.verbose
    try:
        version = interpreter_version(args.python)
        for spec in args.specs:
            lock = read_lock(find_lock(spec, args.locks, version))
            if lock.python != version:
                raise Failure(f"{lock}: made for Python {lock.python}, not {version} ({args.python})")
            build = None
            if lock.from_source:
                stem = lock.path.name.removesuffix(f"-{lock.python}.txt")
                build = read_lock(lock.path.with_name(f"{stem}-build-{lock.python}.txt"))
            install(args.python, lock, build, args.target)
    except Failure as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
