"""The image family of images/versions.json, built for real by scripts/build-images and
exercised inside each image (buildah run --isolation chroot, or docker run where a daemon
answers), in the manner of the official python images' test suite.

Under CI the matrix's "ci" selection is built (one image per build path); with
SNAKEPACK_IMAGES=all, after scripts/build-images --all, every image of the family is tested."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import doc_block, run
from loopback import TlsServer, listening
from snakepack_tools.matrix import Matrix

REPO = Path(__file__).resolve().parent.parent

MATRIX = Matrix()
WHOLE = os.environ.get("SNAKEPACK_IMAGES") == "all"
IMAGES = MATRIX.images(ci=not WHOLE)
NAMES = [i.name for i in IMAGES]
PYTHON_IMAGES = [i for i in IMAGES if i.role in ("build", "runtime", "pillow", "build-pillow")]
RUNTIMES = [i.name for i in IMAGES if i.role in ("runtime", "pillow")]
# the compact targets: no shell, no apt; their tests run commands in exec form
MINS = [i.name for i in IMAGES if i.role == "min"]
PROOF = (
    MATRIX.data["ci"]["packing_proof"]
    if not WHOLE
    else [MATRIX.pythons[0].name, MATRIX.pythons[-1].name] + [p.name for p in MATRIX.pythons if p.free_threaded]
)


def engine() -> str | None:
    if shutil.which("docker") and run(["docker", "info"]).returncode == 0:
        return "docker"
    if shutil.which("buildah"):
        return "buildah"
    return None


ENGINE = engine()
pytestmark = [
    pytest.mark.needs("images"),
    pytest.mark.skipif(ENGINE is None, reason="no docker daemon and no buildah: images cannot be built here"),
]


def image(name: str) -> str:
    return f"{MATRIX.registry}:{name}"


def in_image(name: str, *cmd, input=None, user=None) -> subprocess.CompletedProcess:
    """Runs CMD (not the image's entrypoint) in a fresh container of image NAME, as its default
    user or USER; the host's network (loopback) is shared, and a CA bundle the host's pip uses
    (a TLS-intercepting network) is lent to pip inside."""
    cert = os.environ.get("PIP_CERT", "")
    if ENGINE == "docker":
        argv = ["docker", "run", "--rm", "-i", "--network", "host", "--entrypoint", cmd[0]]
        argv += ["-u", user] if user else []
        argv += (
            ["-v", f"{cert}:/etc/snakepack-test-ca.crt:ro", "-e", "PIP_CERT=/etc/snakepack-test-ca.crt"] if cert else []
        )
        return run([*argv, image(name), *cmd[1:]], input=input, timeout=900)
    ctr = run(["buildah", "from", "--pull-never", image(name)]).stdout.strip()
    assert ctr, f"buildah from {image(name)} failed"
    try:
        argv = ["buildah", "run", "--isolation", "chroot"]
        argv += ["--user", user] if user else []
        argv += (
            ["-v", f"{cert}:/etc/snakepack-test-ca.crt:ro", "--env", "PIP_CERT=/etc/snakepack-test-ca.crt"]
            if cert
            else []
        )
        return run([*argv, ctr, "--", *cmd], input=input, timeout=900)
    finally:
        run(["buildah", "rm", ctr])


def size(ref: str) -> int:
    tool = "docker" if ENGINE == "docker" else "podman"
    r = run([tool, "image", "inspect", "--format", "{{.Size}}", ref])
    return int(r.stdout.strip() or 0)


def skipped() -> dict[str, str]:
    path = Path(os.environ.get("SNAKEPACK_CACHE", "/var/cache/snakepack")) / "skipped.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def built():
    """Builds the selection once per session (layers are cached between runs)."""
    log = Path(os.environ.get("SNAKEPACK_IMAGES_LOG", "/tmp/snakepack-build-images.log"))
    with open(log, "w") as f:
        r = subprocess.run(
            [str(REPO / "scripts/build-images"), "--all" if WHOLE else "--ci", "--offline"],
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=5400,
        )
    assert r.returncode == 0, f"scripts/build-images failed; see {log}:\n" + "".join(
        log.read_text().splitlines(True)[-40:]
    )
    return skipped()


NOT_SELECTED = "is not in this selection"


def not_selected(names: list[str]) -> str:
    """Why a test of images NAMES is skipped in a selection that leaves them out."""
    return f"{', '.join(names)} {NOT_SELECTED} (SNAKEPACK_IMAGES=all tests it)"


def only_if_selected(*names):
    """Skips the test when the selection does not build NAMES, saying so; that skip, and only
    that one, is allowed under scripts/test (scripts/build-images --all builds every image)."""
    missing = sorted(set(names) - set(NAMES))

    def mark(test):
        test = pytest.mark.may_skip(NOT_SELECTED)(test)
        return pytest.mark.skipif(bool(missing), reason=not_selected(missing))(test)

    return mark


def need(built, name: str) -> None:
    """Skips a test of an image that build-images had to leave out here, naming why."""
    if name in built:
        pytest.skip(f"{image(name)} was not built here: {built[name]}")


# ---- every image ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_image_builds_with_oci_labels(built, name):
    need(built, name)
    tool = "docker" if ENGINE == "docker" else "podman"
    r = run([tool, "image", "inspect", "--format", "{{json .Config.Labels}}", image(name)])
    assert r.returncode == 0, r.stderr
    assert "org.opencontainers.image.title" in r.stdout


# ---- images with a Python: the official images' checks ------------------------------------------

# The official images' checks, one a test (docker-library/official-images, test/tests/*): each
# module that needs a library is used, not only imported.
CHECKS = {
    "bz2": "import bz2; d = b'snakepack' * 99; assert bz2.decompress(bz2.compress(d)) == d",
    "lzma": "import lzma; d = b'snakepack' * 99; assert lzma.decompress(lzma.compress(d)) == d",
    "zlib": "import zlib; d = b'snakepack' * 99; assert zlib.decompress(zlib.compress(d)) == d",
    "sqlite3": "import sqlite3; assert sqlite3.connect(':memory:').execute('select 6 * 7').fetchone() == (42,)",
    "ssl": "import ssl; c = ssl.create_default_context(); assert c.verify_mode == ssl.CERT_REQUIRED and c.check_hostname",
    "ctypes": "import ctypes, ctypes.util; n = ctypes.util.find_library('c'); assert n, 'no libc found'; assert ctypes.CDLL(n).strlen(b'four') == 4",
    "readline": "import readline; readline.add_history('snakepack'); assert readline.get_history_item(1) == 'snakepack'",
    "curses": "import curses, os; curses.setupterm('xterm', os.open(os.devnull, os.O_WRONLY)); assert curses.tigetnum('colors') == 8",
    "dbm.gnu": (
        "import dbm.gnu, os, tempfile; p = os.path.join(tempfile.mkdtemp(), 'db'); db = dbm.gnu.open(p, 'c'); db[b'k'] = b'v'; db.close(); "
        "assert dbm.gnu.open(p, 'r')[b'k'] == b'v'"
    ),
    "recursion in a thread": (
        "import sys, threading; r = lambda n: n if n == 0 else r(n - 1); out = []; "
        "t = threading.Thread(target=lambda: out.append(r(sys.getrecursionlimit() - 100))); t.start(); t.join(); assert out == [0], 'it failed'"
    ),
    "timezone": "import time; assert time.strftime('%Z') == 'UTC', time.strftime('%Z')",
    "version": "import sys; v = sys.argv[1].rstrip('t'); assert sys.version.startswith(v + '.'), (v, sys.version)",
    # the free-threaded build (an X.Yt image) runs without the GIL, snakepack's extension included:
    # importing a module that needs the GIL would turn it back on, with a warning
    "GIL": (
        "import subprocess, sys, sysconfig; free = bool(sysconfig.get_config_var('Py_GIL_DISABLED')); "
        "assert free == sys.argv[1].endswith('t'), (sys.argv[1], free); "
        "py = '/usr/share/python3/snakepack/bin/python'; "
        "code = 'import sys, snakepack._core; print(sys._is_gil_enabled() if hasattr(sys, \"_is_gil_enabled\") else True)'; "
        "out = subprocess.run([py, '-W', 'error::RuntimeWarning', '-c', code], check=True, capture_output=True, text=True).stdout.strip(); "
        "assert out == str(not free), f'snakepack._core: the GIL is enabled: {out}'"
    ),
    "commands": (
        "import subprocess; [subprocess.run([c, '--help'], check=True, stdout=subprocess.DEVNULL) for c in ('find-libdeps', 'wait-for-port', 'apt-install')]"
    ),
}
# A -min image carries find-libdeps and wait-for-port, and no apt-install (it has no apt)
MIN_CHECKS = CHECKS | {
    "commands": (
        "import shutil, subprocess; [subprocess.run([c, '--help'], check=True, stdout=subprocess.DEVNULL) for c in ('find-libdeps', 'wait-for-port')]; "
        "assert shutil.which('apt-install') is None, 'apt-install in a -min image'"
    ),
}
# The same in an image without a shell, run by its Python: every check in its own interpreter,
# then the byte-code files written meanwhile; one JSON document {NAME: [STATUS, OUTPUT]}.
MIN_RUN_CHECKS = r"""
import json, os, subprocess, sys, time
start = time.time()
version, checks = sys.argv[1], json.loads(sys.argv[2])
out = {}
for name, code in checks.items():
    r = subprocess.run([sys.executable, "-c", code, version], capture_output=True, text=True)
    out[name] = [r.returncode, r.stdout + r.stderr]
dev, written = os.stat("/").st_dev, []
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == dev]
    written += [os.path.join(top, f) for f in files if f.endswith(".pyc") and os.lstat(os.path.join(top, f)).st_mtime >= start]
out["no byte-code written"] = [int(bool(written)), "\n".join(written)]
print(json.dumps(out))
"""
# Runs every check in its own interpreter, then lists the byte-code files written meanwhile:
# one line per check, "NAME<TAB>STATUS<TAB>its output in base64".
RUN_CHECKS = r"""
touch /tmp/.start
py=$1 version=$2
shift 2
while [ $# -gt 0 ]; do
    out=$("$py" -c "$2" "$version" 2>&1)
    status=$?
    printf '%s\t%s\t%s\n' "$1" "$status" "$(printf %s "$out" | base64 -w0)"
    shift 2
done
out=$(find / -xdev -name '*.pyc' -newer /tmp/.start)
printf '%s\t%s\t%s\n' 'no byte-code written' "$(test -z "$out"; echo $?)" "$(printf %s "$out" | base64 -w0)"
"""


@pytest.fixture(scope="session")
def image_checks(built):
    """The outcome of every check in image NAME, run once per image: {check: (status, output)}."""
    import base64

    done: dict[str, dict[str, tuple[int, str]]] = {}

    def outcomes(name: str) -> dict[str, tuple[int, str]]:
        if name in MINS and name not in done:
            abi = next(i for i in IMAGES if i.name == name).python.abi
            r = in_image(name, f"python{abi}", "-c", MIN_RUN_CHECKS, abi, json.dumps(MIN_CHECKS))
            assert r.returncode == 0, r.stdout + r.stderr
            done[name] = {check: (status, out) for check, (status, out) in json.loads(r.stdout).items()}
        if name not in done:
            abi = next(i for i in IMAGES if i.name == name).python.abi
            args = [a for check in CHECKS.items() for a in check]
            r = in_image(name, "sh", "-c", RUN_CHECKS, "sh", f"python{abi}", abi, *args)
            assert r.returncode == 0, r.stdout + r.stderr
            lines = [line.split("\t") for line in r.stdout.splitlines()]
            done[name] = {
                check: (int(status), base64.b64decode(out).decode(errors="replace")) for check, status, out in lines
            }
        return done[name]

    return outcomes


@pytest.mark.parametrize("check", [*CHECKS, "no byte-code written"])
@pytest.mark.parametrize("name", [i.name for i in PYTHON_IMAGES] + MINS)
def test_python_image(built, image_checks, name, check):
    need(built, name)
    status, output = image_checks(name)[check]
    assert status == 0, f"{check} in {image(name)}:\n{output}"


@pytest.mark.parametrize("name", [i.name for i in PYTHON_IMAGES] + MINS + [a.name for a in IMAGES if a.role == "app"])
def test_wait_for_port_against_a_listener(built, name, tmp_path):
    """A TCP listener, and a TLS server: the image's OpenSSL shakes hands."""
    need(built, name)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test",
            "-keyout",
            key,
            "-out",
            cert,
        ]
    )
    assert made.returncode == 0, made.stderr
    with listening() as port, TlsServer(cert, key) as tls:
        r = in_image(
            name, "wait-for-port", "-t", "30", "--insecure", f"127.0.0.1:{port}", f"tls://127.0.0.1:{tls.port}"
        )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"127.0.0.1:{port} is ready" in r.stderr
    assert f"tls://127.0.0.1:{tls.port} is ready" in r.stderr


@pytest.mark.parametrize("name", [i.name for i in PYTHON_IMAGES] + (["all"] if "all" in NAMES else []))
def test_apt_install_requirements_file(built, name):
    need(built, name)
    release = next(i for i in IMAGES if i.name == name).release
    # An image keeps no build-time apt option; a release that needs one (forky's Release file
    # has been seen past its Valid-Until date on this mirror) gets it here the way a user gives
    # it, through APT_CONFIG.
    conf = MATRIX.apt_conf(release)
    prefix = f"echo '{conf}' > /tmp/apt.conf && export APT_CONFIG=/tmp/apt.conf && " if conf else ""
    script = prefix + (
        "! grep -rqs Check-Valid-Until /etc/apt/ && "
        "printf '# a real package\\nless\\n' > /tmp/req.txt && apt-install -r /tmp/req.txt >/dev/null && dpkg -s less | grep -q 'Status: install ok installed' && ls /var/lib/apt/lists"
    )
    r = in_image(name, "sh", "-c", script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(r.stdout.split()) <= {"partial", "lock"}


@pytest.mark.parametrize("name", [n for n in RUNTIMES])
def test_runtime_image_is_lean_and_has_an_unprivileged_user(built, name):
    need(built, name)
    py = f"python{next(i for i in IMAGES if i.name == name).python.abi}"
    script = (
        f"! {py} -m pip --version 2>/dev/null && ! command -v gcc && ! command -v cc && "
        "! ls /var/lib/apt/lists | grep -v -e '^partial$' -e '^lock$' && "
        "! find /usr/include /usr/local/include -name '*.h' 2>/dev/null | grep -q . && "
        "! find /usr/lib /usr/local/lib -name '*.a' | grep -q . && "
        f"! {py} -c 'import test.test_os' 2>/dev/null && "
        "id -u app && id -u"
    )
    r = in_image(name, "sh", "-c", script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split()[-2:] == ["10001", "0"]  # app exists; root stays the default user


# What a -min image holds and lacks, asked of its Python (it has no shell): printed as JSON
MIN_CONTENT = r"""
import json, os, shutil, subprocess, sys
def tried(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
found = lambda top, end: [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs if f.endswith(end)]
status = open("/var/lib/dpkg/status").read()
print(json.dumps({
    "uid": os.getuid(),
    "programs": [p for p in ("/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/apt-get", "/usr/bin/dpkg", "/usr/bin/perl") if os.path.lexists(p)],
    "pip": tried("import pip"),
    "compiler": [c for c in ("gcc", "cc") if shutil.which(c)],
    "apt lists": bool(os.path.isdir("/var/lib/apt/lists") and os.listdir("/var/lib/apt/lists")),
    "headers": found("/usr/include", ".h")[:3] + found("/usr/local/include", ".h")[:3],
    "static libraries": found("/usr/lib", ".a")[:3],
    "test.test_os": tried("import test.test_os"),
    "files": [f for f in ("/etc/os-release", "/etc/ssl/certs/ca-certificates.crt", "/etc/ld.so.cache", "/etc/localtime", "/tmp") if os.path.exists(f)],
    "recorded": "Package: python%s\nStatus: install ok installed" % sys.argv[1] in status,
}))
"""


@pytest.mark.parametrize("name", MINS)
def test_min_image_has_no_shell_no_apt_and_runs_as_an_unprivileged_user(built, name):
    """The tests of the other images that need a shell run here in exec form (the checks above,
    wait-for-port); apt-install -r has no -min counterpart in the image (no apt): a target is
    assembled onto a copy of its root with apt-install --root, as the packing proof below does."""
    need(built, name)
    abi = next(i for i in IMAGES if i.name == name).python.abi
    assert in_image(name, "/bin/sh", "-c", "true").returncode != 0  # no shell to run it
    r = in_image(name, f"python{abi}", "-c", MIN_CONTENT, abi)
    assert r.returncode == 0, r.stdout + r.stderr
    content = json.loads(r.stdout)
    assert content == {
        "uid": 10001,
        "programs": [],
        "pip": False,
        "compiler": [],
        "apt lists": False,
        "headers": [],
        "static libraries": [],
        "test.test_os": False,
        "files": [
            "/etc/os-release",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ld.so.cache",
            "/etc/localtime",
            "/tmp",
        ],
        "recorded": True,
    }
    r = in_image(name, "find-libdeps", "--check", f"/usr/bin/python{abi}", "/usr/share/python3/snakepack")
    assert (r.returncode, r.stderr) == (0, ""), r.stdout
    # --probe, the health check of an image without a shell: one attempt, 0 when ready, else 1
    with listening() as port:
        ready = in_image(name, "wait-for-port", "--probe", "-q", f"127.0.0.1:{port}")
    closed = in_image(name, "wait-for-port", "--probe", "-q", f"127.0.0.1:{port}")
    assert (ready.returncode, closed.returncode) == (0, 1), ready.stderr + closed.stderr


# Printed by an image's Python (a -min image has no shell): its inventory and its dpkg status
INVENTORY = r"""
import json, os
top = "/usr/share/snakepack/inventory"
print(json.dumps({
    "packages": open(os.path.join(top, "packages.txt")).read(),
    "python": {n: open(os.path.join(top, "python", n)).read() for n in sorted(os.listdir(os.path.join(top, "python")))},
    "stages": sorted(os.listdir(os.path.join(top, "stages"))),
    "sbom": json.load(open(os.path.join(top, "sbom.cdx.json"))),
    "status": open("/var/lib/dpkg/status").read(),
}))
"""
# the stages each kind of image records, and a package each brings
STAGES = {
    "build": (["1-base", "2-build"], {"tzdata": "base", "gcc": "build"}),
    "runtime": (["1-base", "2-interpreter"], {"tzdata": "base"}),
    "build-pillow": (["1-base", "2-build", "3-pillow"], {"gcc": "build", "libjpeg62-turbo-dev": "pillow"}),
    "pillow": (["1-base", "2-interpreter", "3-pillow"], {"tzdata": "base", "libjpeg62-turbo": "pillow"}),
    "min": (["1-interpreter"], {"tzdata": "interpreter"}),
    "app": (["1-base", "2-interpreter", "3-app"], {"tzdata": "base"}),
    "all": (["1-base", "2-build"], {"tzdata": "base", "gcc": "build"}),
    "all-pillow": (["1-base", "2-build", "3-pillow"], {"gcc": "build", "libjpeg62-turbo-dev": "pillow"}),
}


@pytest.fixture(scope="module")
def judges(tmp_path_factory) -> Path:
    from conftest import locked_venv

    return locked_venv(tmp_path_factory, "sbom")


@pytest.mark.parametrize("name", [i.name for i in IMAGES if i.role in STAGES])
def test_image_says_what_it_holds(built, judges, name):
    """/usr/share/snakepack/inventory: the Debian packages as dpkg has them installed, the
    Python environments, a valid CycloneDX document of both in which each package carries
    the stage that brought it, and the dpkg status each stage left."""
    need(built, name)
    img = next(i for i in IMAGES if i.name == name)
    py = f"python{img.python.abi}" if img.python else "python3"
    r = in_image(name, py, "-c", INVENTORY)
    assert r.returncode == 0, r.stdout + r.stderr
    held = json.loads(r.stdout)
    installed = sorted(
        (f["Package"], f"{f['Package']}={f['Version']} {f['Architecture']}")
        for f in (
            dict(line.split(": ", 1) for line in s.splitlines() if ": " in line and not line.startswith(" "))
            for s in held["status"].split("\n\n")
        )
        if f.get("Status") == "install ok installed"
    )
    assert held["packages"].splitlines() == [line for _, line in installed]
    stages, brings = STAGES[img.role]
    assert [n.removesuffix(".status") for n in held["stages"]] == stages
    assert "usr_share_python3_snakepack.txt" in held["python"]
    doc = held["sbom"]
    validate_sbom(judges, doc)
    marks = {
        c["name"]: p["value"] for c in doc["components"] for p in c["properties"] if p["name"] == "snakepack:stage"
    }
    assert len(marks) == len(installed) and all(marks[k] == v for k, v in brings.items()), (marks, brings)
    envs = {p["value"] for c in doc["components"] for p in c["properties"] if p["name"] == "snakepack:environment"}
    assert "/usr/share/python3/snakepack" in envs


@only_if_selected("3.13", "3.13-pillow")
def test_build_images_diff_says_what_moved_between_two_images(built):
    """scripts/build-images --diff on two images of the family: 3.13-pillow is 3.13 plus the
    libraries pillow loads; an image against itself moved nothing."""
    need(built, "3.13-pillow")
    r = run([REPO / "scripts/build-images", "--diff", image("3.13"), image("3.13-pillow")], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("debian: + libjpeg62-turbo:") for line in lines), r.stdout
    assert not [line for line in lines if line.startswith("debian: - ") or " -> " in line], r.stdout
    same = run([REPO / "scripts/build-images", "--diff", image("3.13"), image("3.13")], timeout=300)
    assert (same.returncode, same.stdout) == (0, "no package moved\n"), same.stdout + same.stderr


REBUILT = [f"base-{MATRIX.default.release}", MATRIX.default.name]


@only_if_selected(*REBUILT)
def test_base_and_default_runtime_image_rebuild_bit_for_bit(built):
    """scripts/check-reproducible: two builds of each, without the layer cache, are one image
    (the same ID: every layer and the configuration the same); its last lines say so."""
    for name in REBUILT:
        need(built, name)
    r = run([REPO / "scripts/check-reproducible", *REBUILT], timeout=1800)
    verdicts = [line for line in r.stdout.splitlines() if line.startswith("check-reproducible: ")]
    identical = [v.split(":")[1].strip() for v in verdicts if ": identical, " in v]
    assert (r.returncode, identical) == (0, REBUILT), "\n".join(verdicts) + r.stderr[-3000:]


def validate_sbom(judges: Path, doc: dict) -> None:
    from test_sbom import validate

    validate(judges, doc)


@pytest.mark.parametrize("name", [i.name for i in IMAGES if i.role == "build"])
def test_build_image_installs_a_wheel_over_https_and_has_uv(built, name):
    need(built, name)
    p = next(i for i in IMAGES if i.name == name).python
    # six from its lock, as the image's users are shown to install: every file's hash checked
    lock = (REPO / f"locks/images-test-{p.version}.txt").read_text()
    script = (
        f'printf %s "$1" > /tmp/lock.txt && python{p.abi} -m venv /tmp/v && '
        "/tmp/v/bin/pip install -q --require-hashes --only-binary :all: -r /tmp/lock.txt && "
        "/tmp/v/bin/python -c 'import six; print(six.__version__)' && uv --version"
    )
    r = in_image(name, "sh", "-c", script, "sh", lock)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("uv ")


# ---- all ----------------------------------------------------------------------------------------


@only_if_selected("all")
def test_all_holds_each_python_with_its_venv_and_the_matrix_tools(built):
    need(built, "all")
    versions = [MATRIX.by_name[n].version for n in MATRIX.data["all"]["pythons"]]
    assert {"3.13", "3.14", "3.15"} <= set(versions)
    script = " && ".join(
        f"python{v} -m venv /tmp/v{v} && /tmp/v{v}/bin/python -c 'import sys; print(sys.version.split()[0])'"
        for v in versions
    )
    script += " && tox --version && nox --version && uv --version && cat /usr/share/snakepack/left-out"
    r = in_image("all", "sh", "-c", script)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    for v, line in zip(versions, out, strict=False):  # tox, nox and uv follow
        assert line.startswith(v + "."), (v, line)
    left_out = "\n".join(out)
    assert "3.11: built for Debian bookworm, not forky" in left_out  # says what it left out, and why


# ---- from source ------------------------------------------------------------------------------


@pytest.mark.may_skip(NOT_SELECTED)
@pytest.mark.may_skip("cannot be fetched here")
@pytest.mark.parametrize("name", [p.name for p in MATRIX.pythons if p.from_source])
def test_python_from_an_upstream_tarball(built, name):
    p = MATRIX.by_name[name]
    if name not in NAMES:
        pytest.skip(not_selected([name]))
    need(built, name)  # build-images records a tarball it could not fetch ("... cannot be fetched here")
    r = in_image(
        name,
        "sh",
        "-c",
        f"python{p.abi} -c 'import sys, sysconfig; print(sys.version.split()[0], sysconfig.get_config_var(\"Py_ENABLE_SHARED\"))' && ls /usr/local/lib/python{p.abi}/pkgdeps.txt && cat /usr/local/lib/python{p.abi}/pkgdeps.txt",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    version, shared = r.stdout.split()[:2]
    assert (version, shared) == (p.full_version, "1")
    assert "libssl3" in r.stdout or "libssl3t64" in r.stdout  # what find-libdeps listed for it


# ---- applications and the packing proof --------------------------------------------------------


@only_if_selected("ipython")
def test_readme_example_ipython_runs(built):
    r = in_image("ipython", "ipython", "--quick", "-c", "print(6 * 7)", user="app")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "42" in r.stdout


@only_if_selected("certbot")
def test_certbot_runs(built):
    r = in_image("certbot", "certbot", "--version")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "certbot" in (r.stdout + r.stderr)


def build_proof(name: str, on_min: bool = False) -> str:
    """Builds the packing proof of tests/data/packing-proof.Dockerfile on Python NAME: its
    runtime image, or ON_MIN the same venv packed onto NAME's -min image; returns its name."""
    p = MATRIX.by_name[name]
    proof = f"packing-proof-{name}" + ("-min" if on_min else "")
    args = {
        "PYTHON": p.abi,
        "BUILD": image(f"build-{name}-pillow"),
        "RUNTIME": image(name),
        "MIN": image(f"{name}-min"),
        "APT_BUILD_CONF": MATRIX.apt_conf(p.release),
    }
    argv = [str(REPO / "scripts/build-images"), "--one", proof, str(REPO / "tests/data/packing-proof.Dockerfile")]
    argv += ["--target", "packed-min"] if on_min else []
    argv += [a for key, value in args.items() for a in ("--build-arg", f"{key}={value}")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return proof


def proof_runs(proof: str) -> list[str]:
    """What import-all.py prints in image PROOF, after asserting that every extension module of
    the venv imports and that find-libdeps finds no dependency missing there (exec form: a
    -min image has no shell)."""
    check = in_image(proof, "/usr/share/python3/app/bin/python", "/usr/share/python3/app/import-all.py")
    assert check.returncode == 0, check.stdout + check.stderr
    missing = in_image(proof, "find-libdeps", "--missing", "error", "/usr/share/python3/app")
    assert missing.returncode == 0, missing.stdout + missing.stderr
    lines = check.stdout.splitlines()
    imported = {line.split()[1] for line in lines if line.startswith("imported ")}
    assert {"lxml.etree", "psycopg2._psycopg", "PIL._imaging", "PIL._imagingft"} <= imported
    assert sum(line.startswith("loaded ") for line in lines) >= len(imported)
    assert not [line for line in lines if line.startswith("not imported") and "tkinter" not in line]
    return lines


@pytest.mark.parametrize("name", PROOF)
def test_packing_proof_compiled_dependencies(built, capsys, name):
    """lxml, psycopg2 and pillow built from source in the build stage; only what find-libdeps
    lists installed in the runtime image; there every extension module imports and no ELF file
    of the venv has an unresolved dependency."""
    need(built, name)
    p = MATRIX.by_name[name]
    proof = build_proof(name)
    lines = proof_runs(proof)
    # on a free-threaded Python a module that needs the GIL turns it back on: reported, not failed
    gil = sorted({line.split(":")[0].split()[-1] for line in lines if line.startswith("gil enabled importing ")})
    assert p.free_threaded or not gil, gil
    ours = set(in_image(proof, "cat", "/usr/share/python3/app/pkgdeps.txt").stdout.split())
    seed = set(in_image(proof, "cat", "/usr/share/python3/app/seed-pkgdeps.txt").stdout.split())
    with capsys.disabled():
        print(
            f"\npacking proof on {name}: runtime image {size(image(proof)) / 1e6:.0f} MB; find-libdeps: {' '.join(sorted(ours))}"
        )
        print(
            f"packing proof on {name}: the original pipeline would add: {' '.join(sorted(seed - ours)) or '-'}; would miss: {' '.join(sorted(ours - seed)) or '-'}"
        )
        if p.free_threaded:
            print(f"packing proof on {name}: modules that turn the GIL back on: {' '.join(gil) or '-'}")


# What the packing leaves behind, printed by the venv's Python: the installer, and every
# extension module that still carries debug information.
LEFT_BEHIND = """
import importlib.util, pathlib, sys
if importlib.util.find_spec("pip"):
    print("pip")
for so in pathlib.Path(sys.prefix).rglob("*.so"):
    if b".debug_info" in so.read_bytes():
        print(so)
"""


@pytest.mark.parametrize("name", [n for n in PROOF if f"{n}-min" in MINS])
def test_packing_proof_packed_onto_a_min_image(built, capsys, name):
    """The README's flow onto a -min image: the packing proof's venv, with the packages
    find-libdeps lists installed by apt-install --root into a copy of the -min image's root,
    FROM scratch, the venv without its installer and its modules' debug information. Every
    extension module imports there as the default user, find-libdeps finds nothing missing, and
    the image weighs at most 60 % of the one packed onto the slim runtime; both sizes are
    printed."""
    need(built, f"{name}-min")
    slim, packed = build_proof(name), build_proof(name, on_min=True)
    proof_runs(packed)
    assert in_image(packed, "/bin/sh", "-c", "true").returncode != 0  # no shell came with the packages
    # what nothing there loads stayed behind: strip removes a DWARF section and its name
    unloaded = in_image(packed, "/usr/share/python3/app/bin/python", "-c", LEFT_BEHIND)
    assert unloaded.returncode == 0 and unloaded.stdout.split() == [], unloaded.stdout + unloaded.stderr
    ratio = size(image(packed)) / size(image(slim))
    with capsys.disabled():
        print(
            f"\npacking proof on {name}: onto {name}-min {size(image(packed)) / 1e6:.0f} MB, onto the slim {name} "
            f"{size(image(slim)) / 1e6:.0f} MB ({ratio:.0%}); {name}-min itself {size(image(f'{name}-min')) / 1e6:.0f} MB"
        )
    assert ratio <= 0.6


@only_if_selected("build-3.13", "3.13", "3.13-min")
def test_packing_proof_of_an_app_that_loads_libraries_at_run_time(built, capsys):
    """WeasyPrint from PyPI: its libraries (Pango, HarfBuzz, fontconfig, GObject) are loaded by
    ffi.dlopen() and named by no DT_NEEDED entry. With the packages of find-libdeps --dlopen
    required, the runtime image renders HTML to a PDF; with those of plain find-libdeps, the
    same image cannot even import WeasyPrint. Packed onto 3.13-min (no shell), it renders too."""
    need(built, "3.13")
    p = MATRIX.by_name["3.13"]
    for target in ("plain", "dlopen", "packed-min"):
        r = subprocess.run(
            [
                str(REPO / "scripts/build-images"),
                "--one",
                f"weasyprint-{target}",
                str(REPO / "tests/data/weasyprint.Dockerfile"),
                "--target",
                target,
                "--build-arg",
                f"PYTHON={p.version}",
                "--build-arg",
                f"BUILD={image('build-3.13')}",
                "--build-arg",
                f"RUNTIME={image('3.13')}",
                "--build-arg",
                f"MIN={image('3.13-min')}",
                "--build-arg",
                f"APT_BUILD_CONF={MATRIX.apt_conf(p.release)}",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    app = "/usr/share/python3/app"
    render = (
        "from weasyprint import HTML\n"
        "pdf = HTML(string='<h1>snakepack</h1><p>packed with find-libdeps --dlopen</p>').write_pdf(uncompressed_pdf=True)\n"
        "print(pdf[:5].decode(), len(pdf), b'/FontFile' in pdf)\n"
    )
    ok = in_image("weasyprint-dlopen", f"{app}/bin/python", "-c", render, user="app")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    magic, size_, font = ok.stdout.split()
    assert magic == "%PDF-" and int(size_) > 1000 and font == "True"  # text set in an embedded font
    packed = in_image("weasyprint-packed-min", f"{app}/bin/python", "-c", render)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    assert packed.stdout.split()[0] == "%PDF-" and packed.stdout.split()[2] == "True"
    bad = in_image("weasyprint-plain", f"{app}/bin/python", "-c", render, user="app")
    assert bad.returncode != 0 and "cannot load library" in bad.stderr, bad.stdout + bad.stderr
    ours = set(in_image("weasyprint-dlopen", "cat", f"{app}/pkgdeps.txt").stdout.split())
    plain = set(in_image("weasyprint-dlopen", "cat", f"{app}/pkgdeps-plain.txt").stdout.split())
    assert {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "libfontconfig1"} <= ours - plain
    doc = json.loads(in_image("weasyprint-dlopen", "cat", f"{app}/libdeps.json").stdout)
    sources = {r["source"] for f in doc["files"] for r in f["resolutions"] if r["source"].startswith("python: ")}
    assert any("weasyprint/text/ffi.py:" in s for s in sources), sources
    with capsys.disabled():
        print(
            f"\nWeasyPrint packed: --dlopen adds {' '.join(sorted(ours - plain))}; runtime image {size(image('weasyprint-dlopen')) / 1e6:.0f} MB, "
            f"onto 3.13-min {size(image('weasyprint-packed-min')) / 1e6:.0f} MB"
        )


# ---- the README and docs/images.md --------------------------------------------------------------


def host_ca_bundle() -> str:
    cert = (
        os.environ.get("PIP_CERT") or run([sys.executable, "-m", "pip", "config", "get", "global.cert"]).stdout.strip()
    )
    return cert if cert and Path(cert).is_file() else ""


def build_readme_example(name: str, dockerfile: str, tmp_path: Path) -> None:
    """Builds DOCKERFILE, a README example, in a copy of tests/data/uv-app as image NAME (the
    docker format, which keeps a HEALTHCHECK)."""
    context = tmp_path / "context"
    shutil.copytree(REPO / "tests/data/uv-app", context)
    build = (
        ["docker", "buildx", "build", "--load"]
        if ENGINE == "docker"
        else ["podman", "build", "--isolation", "chroot", "--format", "docker"]
    )
    cert = host_ca_bundle()
    if cert:  # this network intercepts TLS: its CA bundle reaches uv as a build secret, no other change
        dockerfile = dockerfile.replace(
            "RUN export UV_PROJECT_ENVIRONMENT",
            "RUN --mount=type=secret,id=ca export SSL_CERT_FILE=/run/secrets/ca UV_PROJECT_ENVIRONMENT",
        )
        build += ["--secret", f"id=ca,src={cert}"]
    (context / "Dockerfile").write_text(dockerfile)
    r = run([*build, "-t", image(name), context], timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@only_if_selected("build-3.13", "3.13")
def test_readme_uv_example_packs_a_locked_project(built, tmp_path):
    need(built, "3.13")
    dockerfile = doc_block("tests/test_images.py::test_readme_uv_example_packs_a_locked_project")
    assert "uv sync --locked --no-editable --no-dev --no-build-isolation" in dockerfile
    build_readme_example("uv-example", dockerfile, tmp_path)
    r = in_image("uv-example", "/usr/share/python3/app/bin/myapp", "<b>", user="app")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["&lt;b&gt;", "markupsafe._speedups"]


@only_if_selected("build-3.13", "3.13-min")
def test_readme_min_example_packs_a_locked_project(built, tmp_path):
    """The README's target without a shell, after the builder stage of its first example: the
    app runs there as the default user, and the HEALTHCHECK is wait-for-port in exec form."""
    need(built, "3.13-min")
    first = doc_block("tests/test_images.py::test_readme_uv_example_packs_a_locked_project")
    builder = first[: first.index("\nFROM snakepack/python:3.13\n")]
    dockerfile = doc_block("tests/test_images.py::test_readme_min_example_packs_a_locked_project")
    build_readme_example("uv-min-example", builder + "\n" + dockerfile, tmp_path)
    r = in_image("uv-min-example", "/usr/share/python3/app/bin/myapp", "<b>")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["&lt;b&gt;", "markupsafe._speedups"]
    tool = "docker" if ENGINE == "docker" else "podman"
    inspect = run([tool, "image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image("uv-min-example")])
    check = json.loads(inspect.stdout)
    assert check[:3] == ["CMD", "wait-for-port", "--probe"], inspect.stdout + inspect.stderr
    with listening() as port:
        probe = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in check[1:]]
        r = in_image("uv-min-example", *probe)
    assert r.returncode == 0, r.stderr
    assert in_image("uv-min-example", "/bin/sh", "-c", "true").returncode != 0


def images_table() -> list[list[str]]:
    text = (REPO / "docs/images.md").read_text()
    start = text.index("<!-- images table: generated from images/versions.json -->")
    end = text.index("<!-- end of images table -->")
    rows = [line for line in text[start:end].splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_images_table_lists_every_python_of_the_matrix():
    # checked without building anything: the table and the matrix must agree
    rows = images_table()
    tags = [re.findall(r"`([^`]+)`", row[0]) for row in rows]
    runtime_tags = {t[0] for t in tags}
    assert runtime_tags == {p.name for p in MATRIX.pythons}
    for row in rows:
        p = MATRIX.by_name[re.findall(r"`([^`]+)`", row[0])[0]]
        assert p.release in row[2] and p.version in row[1]


def test_report_image_sizes(built, capsys):
    """A report of the sizes of the images built, beside their Debian slim base; it checks
    only that every image of the selection that was built is there to be measured."""
    rows = []
    for img in IMAGES:
        if img.name in built:
            continue
        base = size(f"docker.io/library/debian:{img.release}-slim") if img.release else 0
        rows.append((img.name, size(image(img.name)), img.release, base))
    with capsys.disabled():
        print("\nimage sizes (and the Debian slim base each is built on):")
        for name, bytes_, release, base in rows:
            print(f"  {image(name):<36} {bytes_ / 1e6:6.0f} MB   (debian:{release}-slim {base / 1e6:4.0f} MB)")
    assert [name for name, bytes_, _, _ in rows if not bytes_] == [], "built, but no size to be had: not there"
