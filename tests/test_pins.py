"""The pinned inputs (scripts/snakepack_tools/pins.py, scripts/install_locked.py, locks/): no command in the
checkout installs from the index without a hashed lock, every lock the matrix needs is there and
complete, and the installer refuses a bad lock with one line naming the lock and the package.

The installer is run for real against a local package index (a directory of wheels made here):
the tests reach no other host."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from snakepack_tools import pins

REPO = Path(__file__).resolve().parent.parent

INSTALLER = REPO / "scripts/install_locked.py"


# ---- the scanner ---------------------------------------------------------------------------------


def test_checkout_installs_nothing_from_the_index_unpinned():
    found = pins.scan_checkout()
    assert found == [], "\n".join(map(str, found))


UNPINNED = {
    "pip": "RUN pip install six",
    "pip3": "RUN pip3 install -r requirements.txt",
    "python -m pip": "python -m pip install lxml",
    "python3.X -m pip, pip itself": "python3.13 -m pip install --upgrade pip",
    "a venv's pip": "/usr/share/python3/app/bin/pip install --no-binary lxml lxml",
    "a name from a variable": "/usr/share/python3/app/bin/pip install ${APP}",
    "a continued line": "pip install -q \\\n    tox nox",
    "uv pip": "uv pip install -q --python /venv/bin/python -r requirements.txt",
    "uv pip, isolated build": "uv pip install -q --no-cache --python $venv/bin/python /usr/src/snakepack",
    "uv tool": "uv tool install ruff",
    "uvx": "uvx ruff check .",
    "pipx": "pipx install tox",
    "uv add": "uv add requests",
    "uv sync, not locked": "uv sync --no-dev",
    "uv sync, the project's isolated build": "uv sync --locked --no-editable",
    "isolated build of a lock's sdist": "pip install --require-hashes -r locks/x.txt",
    "isolated wheel build": "pip wheel -w dist .",
    "uv build": "uv build --wheel",
    "hashes without a lock": "pip install --require-hashes six==1.0",
    "argv list in Python": 'subprocess.run([sys.executable, "-m", "pip", "install", "six"])',
    "f-string in Python": 'script = f"{py} -m venv /tmp/v && /tmp/v/bin/pip install -q six"',
}


@pytest.mark.parametrize("form", UNPINNED)
def test_scanner_finds_each_unpinned_form(form):
    path = "x.py" if "Python" in form else "Dockerfile"
    found = pins.find_unpinned(UNPINNED[form], path)
    assert len(found) == 1, (form, found)
    assert found[0].line == 1


PINNED = [
    "pip install --require-hashes --no-build-isolation -r locks/tools-3.13.txt",
    "uv pip install --require-hashes --only-binary :all: -r lock.txt",
    '"$venv/bin/python" -m pip install -q --no-build-isolation --no-deps --no-index .',
    "uv pip install -q --no-index --no-deps --python $venv/bin/python /tmp/w/snakepack-0.1.0-py3-none-any.whl",
    "uv sync --locked --no-install-project --only-group build",
    "uv sync --locked --no-editable --no-dev --no-build-isolation",
    "uv pip compile --generate-hashes requirements.in",
    "pip --version && python3 -m pip list",
    "the venv's pip is not used at run time",
    "python3 scripts/install_locked.py --python /opt/uv/bin/python tools",
]


@pytest.mark.parametrize("text", PINNED)
def test_scanner_passes_pinned_forms_and_prose(text):
    assert pins.find_unpinned(text, "README.md") == []


def test_scanner_names_the_line():
    found = pins.find_unpinned("FROM x\nRUN true \\\n && pip install six\n", "images/x/Dockerfile")
    assert [(f.path, f.line) for f in found] == [("images/x/Dockerfile", 3)]
    assert "without --require-hashes" in str(found[0])


# ---- the locks -----------------------------------------------------------------------------------


def test_every_lock_the_matrix_needs_is_there_and_complete():
    problems = pins.check_locks()
    assert problems == [], "\n".join(problems)


def test_locks_cover_every_python_of_the_matrix():
    specs = {s.name: s for s in pins.lock_specs()}
    versions = {p.version for p in pins.Matrix().pythons}
    for name in ("tools", "build", "packing-proof", "images-test"):
        assert set(specs[name].pythons) == versions, name
    assert specs["packing-proof"].from_source == ("lxml", "psycopg2", "pillow")


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def test_locks_obey_what_update_pins_held_back():
    held = [
        re.match(r"([\w.-]+)<([\w.]+)", line)
        for line in pins.HELD_BACK.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all(held), pins.HELD_BACK.read_text()
    for lock_path in sorted(pins.LOCKS.glob("*.txt")):
        if lock_path == pins.HELD_BACK:
            continue
        for pin in pins.read_lock(lock_path).pins:
            for m in held:
                if pins.canonical(pin.name) == pins.canonical(m[1]):
                    assert version_key(pin.version) < version_key(m[2]), (lock_path.name, pin)


def test_dockerfiles_copy_only_locks_that_exist():
    for dockerfile in [*REPO.glob("images/*/Dockerfile"), *REPO.glob("tests/data/*.Dockerfile")]:
        for pattern in re.findall(r"COPY ((?:locks/\S+\s+)+)", dockerfile.read_text()):
            for glob in pattern.split():
                glob = glob.replace("${LOCK}", "app-ipython")
                assert list(REPO.glob(glob)), (dockerfile.name, glob)


# ---- the installer, against a local index ---------------------------------------------------------


def make_wheel(index: Path, name: str, version: str, requires: tuple[str, ...] = (), body: str = "") -> str:
    """A pure-Python wheel NAME-VERSION in INDEX; returns its sha256."""
    path = index / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n{body}",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


PY = "%d.%d" % sys.version_info[:2]


def write_lock(path: Path, body: str, python: str = PY) -> Path:
    path.write_text(f"# a lock made by hand for a test\n# python: {python}\n{body}")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with pip, where the locks are installed."""
    where = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", where], check=True)
    return where / "bin/python"


@pytest.fixture
def index(tmp_path):
    d = tmp_path / "index"
    d.mkdir()
    return d


def install(venv: Path, index: Path, *locks) -> subprocess.CompletedProcess:
    """install-locked with pip reading only INDEX: no configuration file, no other index."""
    env = {"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    return subprocess.run(
        [sys.executable, INSTALLER, "--python", venv, *map(str, locks)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("install-locked: "), r.stderr
    return lines[0]


def test_installs_a_lock_with_its_dependencies(venv, index, tmp_path):
    a = make_wheel(index, "alpha", "1.0", requires=("beta",))
    b = make_wheel(index, "beta", "2.0")
    lock = write_lock(
        tmp_path / "ok.txt",
        f"alpha==1.0 \\\n    --hash=sha256:{a}\nbeta==2.0 \\\n    --hash=sha256:{b}\n    # via alpha\n",
    )
    r = install(venv, index, lock)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        [venv, "-c", "import alpha, beta; print(alpha.VERSION, beta.VERSION)"], capture_output=True, text=True
    )
    assert out.stdout.split() == ["1.0", "2.0"]


def test_a_file_that_does_not_match_its_hash(venv, index, tmp_path):
    make_wheel(index, "gamma", "1.0")
    lock = write_lock(tmp_path / "bad-hash.txt", f"gamma==1.0 \\\n    --hash=sha256:{'0' * 64}\n")
    line = one_line(install(venv, index, lock))
    assert "bad-hash.txt: gamma: the file served does not match the lock's hash" in line


def test_a_version_the_index_no_longer_serves(venv, index, tmp_path):
    h = make_wheel(index, "delta", "1.0")
    lock = write_lock(tmp_path / "gone.txt", f"delta==1.1 \\\n    --hash=sha256:{h}\n")
    line = one_line(install(venv, index, lock))
    assert "gone.txt: delta==1.1: not served by the index" in line


def test_a_dependency_missing_from_the_lock(venv, index, tmp_path):
    e = make_wheel(index, "epsilon", "1.0", requires=("zeta",))
    make_wheel(index, "zeta", "1.0")
    lock = write_lock(tmp_path / "partial.txt", f"epsilon==1.0 --hash=sha256:{e}\n")
    line = one_line(install(venv, index, lock))
    assert "partial.txt: zeta: needed, but not pinned in the lock" in line


@pytest.mark.parametrize(
    "body, message",
    [
        ("eta==1.0\n", "eta: no --hash"),
        ("eta>=1.0 --hash=sha256:" + "1" * 64 + "\n", "eta: line 3: not pinned with =="),
        ("eta==1.0 \\\n    --hash=md5:abc\n", "eta: line 3: --hash=md5:abc: not a sha256 hash"),
    ],
)
def test_a_lock_that_is_not_exact_is_refused_before_pip_runs(venv, index, tmp_path, body, message):
    lock = write_lock(tmp_path / "loose.txt", body)
    line = one_line(install(venv, index, lock))
    assert f"loose.txt: {message}" in line


def test_a_lock_for_another_python_or_none_at_all(venv, index, tmp_path):
    h = make_wheel(index, "theta", "1.0")
    lock = write_lock(tmp_path / "other.txt", f"theta==1.0 --hash=sha256:{h}\n", python="2.7")
    assert f"other.txt: made for Python 2.7, not {PY}" in one_line(install(venv, index, lock))
    assert "no-such-lock-" + PY + ".txt: no such lock" in one_line(install(venv, index, "no-such-lock"))
    header_less = tmp_path / "plain.txt"
    header_less.write_text(f"theta==1.0 --hash=sha256:{h}\n")
    assert "plain.txt: no '# python: X.Y' line" in one_line(install(venv, index, header_less))


def test_what_is_installed_is_checked_against_the_lock(venv, index, tmp_path):
    """After pip, each pin that applies to the interpreter must be what the environment has."""
    import install_locked

    h = make_wheel(index, "lamb", "1.0")
    lock = write_lock(tmp_path / "l.txt", f"lamb==1.0 --hash=sha256:{h}\n")
    assert install(venv, index, lock).returncode == 0
    install_locked.check_installed(str(venv), install_locked.read_lock(lock))  # as pinned
    newer = write_lock(
        tmp_path / "newer.txt", f"lamb==1.1 --hash=sha256:{h}\nmu==1.0 ; python_version < '3' --hash=sha256:{h}\n"
    )
    with pytest.raises(install_locked.Failure, match=r"newer.txt: lamb: 1.0 installed, the lock pins 1.1"):
        install_locked.check_installed(str(venv), install_locked.read_lock(newer))
