"""The project's pinned inputs: which locks exist (locks/locks.json, for the Pythons of
images/versions.json), how they are remade (scripts/update-pins), and which commands in the
checkout install from the index without them (tests/test_pins.py).

A lock is locks/NAME-X.Y.txt: the pins of locks/NAME.in for Python X.Y on linux/amd64 and
linux/arm64, with the sha256 of every file of each pinned version. A lock whose packages are built
from source ("from_source") has a companion NAME-build-X.Y.txt pinning their build dependencies,
read from each sdist's pyproject.toml, since an isolated build environment is never hash-checked.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from install_locked import canonical, read_lock

from . import REPO, arguments
from .matrix import Matrix

LOCKS = REPO / "locks"
HELD_BACK = LOCKS / "held-back.txt"
PLATFORMS = {"linux/amd64": "x86_64-manylinux_2_36", "linux/arm64": "aarch64-manylinux_2_36"}


@dataclass(frozen=True)
class LockSpec:
    name: str
    pythons: tuple[str, ...]
    from_source: tuple[str, ...]

    @property
    def source(self) -> Path:
        return LOCKS / f"{self.name}.in"

    def path(self, python: str) -> Path:
        return LOCKS / f"{self.name}-{python}.txt"

    def build_path(self, python: str) -> Path:
        return LOCKS / f"{self.name}-build-{python}.txt"


def select_pythons(selector: str | list[str], m: Matrix) -> tuple[str, ...]:
    if isinstance(selector, list):
        versions = selector
    elif selector == "matrix":
        versions = [p.version for p in m.pythons]
    elif selector == "all":
        versions = [m.by_name[n].version for n in m.data["all"]["pythons"]]
    elif selector == "pillow":
        versions = [m.by_name[n].version for n in m.data["pillow"]]
    elif selector.startswith("app:"):
        versions = [m.by_name[m.data["apps"][selector[4:]]["python"]].version]
    else:
        raise ValueError(f"locks/locks.json: unknown selection of Pythons {selector!r}")
    return tuple(sorted(set(versions), key=lambda v: tuple(map(int, v.split(".")))))


def lock_specs(m: Matrix | None = None) -> list[LockSpec]:
    m = m or Matrix()
    data = json.loads((LOCKS / "locks.json").read_text())
    return [
        LockSpec(name, select_pythons(spec["pythons"], m), tuple(spec.get("from_source", ())))
        for name, spec in data["locks"].items()
    ]


def requirement_names(path: Path) -> list[str]:
    """The names a .in file asks for (its own lines; -r/-c lines are not followed)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(canonical(re.split(r"[\s<>=!~;\[@]", line, maxsplit=1)[0]))
    return names


# ---- finding installs that are not pinned ------------------------------------------------------

# An install command: the tool, then the rest of its shell command (up to && ; | or a newline).
INSTALLERS = re.compile(
    r"(?<![\w.-])(?P<tool>(?:[\w./${}-]*/)?pip[\d.]*|(?:[\w./${}-]*/)?python[\d.]*\s+-m\s+pip"
    r"|(?<!/)(?:uv\s+pip|uv\s+tool|uv\s+add|uv\s+sync|uv\s+build|uvx|pipx|pip-sync))(?=[\s\x01]|$)"
    r"(?P<rest>(?:[ \t\x01]+[^\s\x01&;|]+)*)"
)
JOINED = "\x01"  # where a continued line was joined: a blank that still counts as a line
SOURCE_SUFFIXES = {".py", ".sh", ".md", ".yml", ".yaml", ".cfg", ".toml", ".txt", ".in", ".hcl", ""}


@dataclass
class Unpinned:
    path: str
    line: int
    command: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.command}"


def shell_text(text: str, path: str) -> str:
    """TEXT as commands: continuations joined (each line kept, so numbers stay), in Markdown only
    the fenced code blocks, in Python argv lists read as words too."""
    if path.endswith(".md"):
        parts = re.split(r"(^```.*$)", text, flags=re.M)
        text = "".join(p if i % 4 == 2 else re.sub(r"[^\n]", "", p) for i, p in enumerate(parts))
    text = text.replace("\\\n", JOINED)
    python = path.endswith(".py")
    if python:
        # ["pip", "install", x] and "pip install " f"{x}" read as the words they run
        text = re.sub(r"""["']\s*,\s*["']|["']\s+f?["']""", " ", text)
    return text


def verdict(tool: str, words: list[str]) -> str | None:
    """Why the command TOOL WORDS installs something from the index unpinned, or None."""
    tool = " ".join(tool.split())
    base = tool.rsplit("/", 1)[-1]
    flags = set(words)
    has_lock = (
        "-r" in flags
        or "--requirement" in flags
        or any(w.startswith(("-r", "--requirement=")) and len(w) > 2 for w in words)
    )
    local = any(w in ("--no-index", "--offline") for w in words)
    isolated_ok = "--no-build-isolation" in flags or ("--only-binary" in flags and ":all:" in words)
    if base in ("uvx", "pipx") or tool.startswith("uv tool"):
        return (
            "a tool installed from the index, no hashes checked"
            if any(w in ("install", "run") for w in words) or base == "uvx"
            else None
        )
    if tool in ("uv add",):
        return "resolves from the index"
    if tool in ("uv sync",):
        if not flags & {"--locked", "--frozen"}:
            return "uv sync without --locked or --frozen resolves afresh"
        if not flags & {"--no-build-isolation", "--no-install-project"}:
            return "the project is built in an isolated environment, resolved, not hash-checked"
        return None
    if tool == "uv build":
        return (
            None if "--no-build-isolation" in flags else "an isolated build environment is resolved, not hash-checked"
        )
    if base == "pip-sync":
        return "pip-sync"
    # pip, pip3, python -m pip, uv pip
    if not words:
        return None
    sub = words[0]
    if sub in ("install", "sync", "wheel", "download"):
        if local:
            return None  # nothing comes from an index, an isolated build environment neither
        if "--require-hashes" not in flags:
            return "installs from the index without --require-hashes"
        if not has_lock:
            return "--require-hashes without a lock (-r FILE)"
        if not isolated_ok:
            return "an sdist in the lock would build in an isolated environment: --no-build-isolation or --only-binary :all:"
    return None


def find_unpinned(text: str, path: str = "-") -> list[Unpinned]:
    """Every command in TEXT that installs from the index without a hashed lock."""
    found = []
    joined = shell_text(text, path)
    for m in INSTALLERS.finditer(joined):
        tool = m["tool"]
        if re.match(r"(?:.*/)?pip[\d.]*$", tool) and not re.match(
            r"\s+(install|wheel|download|sync)\b", m["rest"] or ""
        ):
            continue  # pip --version, a path named pip, the word in prose
        if tool.startswith(("uv pip",)) and not re.match(r"\s+(install|sync)\b", m["rest"] or ""):
            continue  # uv pip compile, uv pip list
        words = [w.strip("\"'`") for w in (m["rest"] or "").replace(JOINED, " ").split()]
        why = verdict(tool, words)
        if why:
            line = joined.count("\n", 0, m.start()) + joined.count(JOINED, 0, m.start()) + 1
            found.append(Unpinned(path, line, " ".join([*tool.split(), *words])[:160], why))
    return found


def tracked_files() -> list[Path]:
    r = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [REPO / f for f in r.stdout.splitlines()]


def scan_checkout() -> list[Unpinned]:
    found = []
    for path in tracked_files():
        rel = path.relative_to(REPO).as_posix()
        # the locks, the C sources, and the three files that name every form on purpose: the
        # installer that is the pinned form, this scanner and its test
        if rel.startswith(("locks/", "ext/", "fuzz/")) or rel in (
            "scripts/install_locked.py",
            "scripts/snakepack_tools/pins.py",
            "tests/test_pins.py",
        ):
            continue
        if not path.is_file() or (path.suffix not in SOURCE_SUFFIXES and "Dockerfile" not in path.name):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        found += find_unpinned(text, rel)
    return found


# ---- remaking the locks --------------------------------------------------------------------------


class HoldBack(Exception):
    def __init__(self, package: str, version: str, reason: str):
        super().__init__(f"{package}<{version}  # {reason}")
        self.package, self.version, self.reason = package, version, reason


def say(message: str) -> None:
    print(f"update-pins: {message}", file=sys.stderr, flush=True)


def uv() -> str:
    found = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        sys.exit(
            "update-pins: needs uv: run it with the test environment's Python (.venv/bin/python scripts/update-pins)"
        )
    return found


def compile_lock(
    requirements: Path, python: str, platform: str, out: Path, constraints: Path, from_source: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """uv pip compile of REQUIREMENTS for PYTHON on PLATFORM into OUT: wheels only, but for the
    packages FROM_SOURCE, whose sdists are pinned. No interpreter is needed or downloaded."""
    argv = [
        uv(),
        "pip",
        "compile",
        "--quiet",
        "--no-header",
        "--generate-hashes",
        "--no-python-downloads",
        "--python-version",
        python,
        "--python-platform",
        PLATFORMS[platform],
        "-c",
        os.path.relpath(constraints, requirements.parent),
        "-o",
        str(out),
        "--only-binary",
        ":all:",
        *(a for name in from_source for a in ("--no-binary", name)),
        requirements.name,
    ]
    return subprocess.run(
        argv, cwd=requirements.parent, capture_output=True, text=True, env=os.environ | {"UV_PYTHON_DOWNLOADS": "never"}
    )


def pins_of(text: str) -> list[str]:
    return sorted(line.split()[0] for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line))


def index_url() -> str:
    return (
        os.environ.get("UV_DEFAULT_INDEX")
        or os.environ.get("UV_INDEX_URL")
        or os.environ.get("PIP_INDEX_URL")
        or "https://pypi.org/simple"
    ).rstrip("/")


def sdist_build_requires(package: str, version: str) -> list[str]:
    """The build-system requires of PACKAGE's sdist of VERSION, read from the index's file."""
    req = urllib.request.Request(
        f"{index_url()}/{canonical(package)}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    stem = re.compile(
        rf"^{re.escape(canonical(package)).replace('-', '[-_.]')}-{re.escape(version)}\.(tar\.gz|zip)$", re.I
    )
    sdists = [f for f in files if stem.match(f["filename"])]
    if not sdists:
        raise HoldBack(package, version, "no sdist served to build from")
    with urllib.request.urlopen(sdists[0]["url"], timeout=300) as r:
        data = r.read()
    text = None
    if sdists[0]["filename"].endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith("/pyproject.toml")]
            text = z.read(names[0]).decode() if names else None
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            members = [m for m in t.getmembers() if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml")]
            text = t.extractfile(members[0]).read().decode() if members else None  # type: ignore[union-attr]
    import tomllib

    requires = (tomllib.loads(text).get("build-system", {}).get("requires") if text else None) or ["setuptools>=40.8.0"]
    return list(requires)


class Unresolvable(Exception):
    """Requirements that do not resolve, or resolve differently per platform: a person decides."""


def resolve(requirements: Path, python: str, out: Path, held: Path, from_source: tuple[str, ...] = ()) -> str:
    """The lock text of REQUIREMENTS for PYTHON, resolved for each platform, which must agree."""
    texts = {}
    for platform in PLATFORMS:
        r = compile_lock(requirements, python, platform, out, held, from_source)
        if r.returncode != 0:
            raise Unresolvable(f"{requirements.name} for Python {python} on {platform} does not resolve:\n{r.stderr}")
        texts[platform] = out.read_text()
    first, second = (set(pins_of(t)) for t in texts.values())
    if first != second:
        raise Unresolvable(
            f"{requirements.name} for Python {python}: the platforms differ ({sorted(first ^ second)}); one lock cannot serve both"
        )
    return texts["linux/amd64"]


def build_requirements(spec: LockSpec, python: str, pinned: dict[str, str], work: Path, held: Path) -> list[str]:
    """What the sdists of SPEC's source-built pins need to build, each requirement checked to
    resolve; raises HoldBack naming the first that the index cannot satisfy."""
    requires = []
    probe = work / "probe.in"
    for package in spec.from_source:
        version = pinned[canonical(package)]
        needs = sdist_build_requires(package, version)
        for need in needs:
            probe.write_text(need + "\n")
            if compile_lock(probe, python, "linux/amd64", work / "probe.txt", held).returncode != 0:
                raise HoldBack(package, version, f"{package} {version} needs {need.split(';')[0].strip()}, not served")
        requires += needs
    return requires


def make_lock(spec: LockSpec, python: str, work: Path, held: Path) -> tuple[Path, Path | None]:
    """Writes SPEC's lock for PYTHON (and its build lock) into WORK; raises HoldBack."""
    out = work / spec.path(python).name
    source = work / spec.source.name  # beside held-back.txt: the lock's notes name both plainly
    shutil.copyfile(spec.source, source)
    try:
        text = resolve(source, python, out, held, spec.from_source)
        header = [
            f"# locks/{out.name}: the pins of locks/{spec.source.name} for Python {python}; made by scripts/update-pins, do not edit",
            f"# python: {python}",
            f"# platforms: {' '.join(PLATFORMS)} (the same pins; the sha256 of every file of each version)",
        ]
        build_out = None
        if spec.from_source:
            build_out = work / spec.build_path(python).name
            header.append(
                f"# from source: {' '.join(spec.from_source)} (built without isolation against locks/{build_out.name})"
            )
            build_in = work / f"{spec.name}-build.in"
            pinned = dict(p.split("==", 1) for p in pins_of(text))
            build_in.write_text("\n".join(build_requirements(spec, python, pinned, work, held)) + "\n")
            build_text = resolve(build_in, python, build_out, held)
            build_out.write_text(
                f"# locks/{build_out.name}: the build dependencies of {', '.join(spec.from_source)} in locks/{out.name} (their sdists' pyproject.toml); made by scripts/update-pins, do not edit\n"
                f"# python: {python}\n" + build_text
            )
    except Unresolvable as e:
        sys.exit(f"update-pins: {e}")
    out.write_text("\n".join(header) + "\n" + text)
    return out, build_out


def build_once(spec: LockSpec, python: str, lock: Path) -> None:
    """Builds the source-built pins of LOCK once, with this Python (when it is PYTHON)."""
    here = "%d.%d" % sys.version_info[:2]
    if python != here:
        return
    say(f"building {', '.join(spec.from_source)} of {lock.name} once, with Python {here}")
    with tempfile.TemporaryDirectory(prefix="update-pins-") as tmp:
        subprocess.run([sys.executable, "-m", "venv", f"{tmp}/venv"], check=True)
        r = subprocess.run(
            [sys.executable, str(REPO / "scripts/install_locked.py"), "--python", f"{tmp}/venv/bin/python", str(lock)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            pins = {canonical(p.name): p.version for p in read_lock(lock).pins}
            for package in spec.from_source:
                if re.search(rf"\b{re.escape(package)}\b", r.stderr, re.I):
                    raise HoldBack(package, pins[canonical(package)], f"does not build here: {last[:120]}")
            sys.exit(f"update-pins: {lock.name} does not install:\n{r.stderr}")


def update(names: list[str] | None = None, build: bool = True) -> int:
    """Remakes every lock (or NAMES) to the newest versions the index serves, holding back a
    version that cannot be built and saying why."""
    specs = [s for s in lock_specs() if not names or s.name in names]
    unknown = set(names or ()) - {s.name for s in specs}
    if unknown:
        sys.exit(f"update-pins: no such lock: {', '.join(sorted(unknown))} (see locks/locks.json)")
    # What an earlier run held back for packages this run does not build stays held back (and
    # constrains this run); what it builds is tried anew at the newest version.
    built = {canonical(p) for s in specs for p in s.from_source}
    held: dict[str, str] = {}
    for line in HELD_BACK.read_text().splitlines() if HELD_BACK.exists() else ():
        package = re.split(r"[<\s]", line, maxsplit=1)[0]
        if line and not line.startswith("#") and canonical(package) not in built:
            held[package] = line
    while True:
        with tempfile.TemporaryDirectory(prefix="update-pins-") as tmp:
            work = Path(tmp)
            constraints = work / "held-back.txt"
            constraints.write_text("".join(f"{line}\n" for line in held.values()))
            try:
                made = []
                for spec in specs:
                    for python in spec.pythons:
                        say(f"locks/{spec.path(python).name}")
                        lock, build_lock = make_lock(spec, python, work, constraints)
                        if build and spec.from_source:
                            build_once(spec, python, lock)
                        made += [lock] + ([build_lock] if build_lock else [])
            except HoldBack as e:
                say(f"holding back: {e}")
                held[e.package] = str(e)
                continue
            for lock in made:
                old = set(pins_of((LOCKS / lock.name).read_text())) if (LOCKS / lock.name).exists() else set()
                new = set(pins_of(lock.read_text()))
                if old != new:
                    changes = sorted(new - old)
                    say(f"locks/{lock.name}: {' '.join(changes) if changes else 'pins removed'}")
                shutil.copyfile(lock, LOCKS / lock.name)
            break
    text = "# Versions scripts/update-pins held back on its last run, and why; every lock is resolved under them.\n"
    HELD_BACK.write_text(text + "".join(f"{line}\n" for line in held.values()))
    for line in held.values():
        print(line)
    say(f"{len(specs)} locks remade; held back: {len(held)}")
    return 0


def check_locks() -> list[str]:
    """What is wrong with the locks as committed (empty: each lock is there, parses, is for its
    Python, pins every name its .in asks for, and has its build lock)."""
    problems = []
    for spec in lock_specs():
        wanted = requirement_names(spec.source)
        for python in spec.pythons:
            try:
                lock = read_lock(spec.path(python))
                if lock.python != python:
                    problems.append(f"{spec.path(python).name}: made for Python {lock.python}")
                if tuple(lock.from_source) != spec.from_source:
                    problems.append(
                        f"{spec.path(python).name}: builds {lock.from_source} from source, locks.json says {list(spec.from_source)}"
                    )
                pinned = {canonical(p.name) for p in lock.pins}
                missing = [n for n in wanted if n not in pinned]
                if missing:
                    problems.append(
                        f"{spec.path(python).name}: does not pin {', '.join(missing)} of {spec.source.name}: run scripts/update-pins"
                    )
                if spec.from_source:
                    read_lock(spec.build_path(python))
            except Exception as e:  # install_locked.Failure: one line
                problems.append(str(e))
    return problems


def main(argv: list[str]) -> int:

    parser = arguments("update-pins", __doc__)
    parser.add_argument("names", nargs="*", metavar="LOCK", help="only these locks (names in locks/locks.json)")
    parser.add_argument(
        "--no-build", action="store_true", help="do not build the source-built pins once with this Python"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the committed locks and the checkout's install commands"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check_locks() + [str(u) for u in scan_checkout()]
        for p in problems:
            print(f"update-pins: {p}", file=sys.stderr)
        return 1 if problems else 0
    return update(args.names or None, build=not args.no_build)
