"""The image family: built for real by scripts/build-images, then exercised inside each image
(buildah run --isolation chroot, or docker run where a daemon answers)."""

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import run

REPO = Path(__file__).resolve().parent.parent
PYTHONS = ["3.11", "3.13"]
RUNTIMES = PYTHONS + [f"{p}-pillow" for p in PYTHONS]
BUILDS = [f"build-{p}" for p in PYTHONS] + [f"build-{p}-pillow" for p in PYTHONS]
APPS = ["ipython", "certbot"]


def engine() -> str | None:
    if shutil.which("docker") and run(["docker", "info"]).returncode == 0:
        return "docker"
    if shutil.which("buildah"):
        return "buildah"
    return None


ENGINE = engine()
pytestmark = pytest.mark.skipif(ENGINE is None, reason="no docker daemon and no buildah: images cannot be built here")


def image(name: str) -> str:
    return f"snakepack/python:{name}"


def in_image(name: str, *cmd, input=None) -> subprocess.CompletedProcess:
    """Runs CMD (not the image's entrypoint) in a fresh container of image NAME; the host's
    network (loopback) is shared."""
    if ENGINE == "docker":
        argv = ["docker", "run", "--rm", "-i", "--network", "host", "--entrypoint", cmd[0], image(name), *cmd[1:]]
        return run(argv, input=input, timeout=900)
    ctr = run(["buildah", "from", "--pull-never", image(name)]).stdout.strip()
    assert ctr, f"buildah from {image(name)} failed"
    try:
        return run(["buildah", "run", "--isolation", "chroot", ctr, "--", *cmd], input=input, timeout=900)
    finally:
        run(["buildah", "rm", ctr])


def size(name: str) -> int:
    tool = "docker" if ENGINE == "docker" else "podman"
    r = run([tool, "image", "inspect", "--format", "{{.Size}}", image(name)])
    return int(r.stdout.strip() or 0)


@pytest.fixture(scope="session")
def built():
    """Builds the whole set once per session (layers are cached between runs)."""
    log = Path(os.environ.get("SNAKEPACK_IMAGES_LOG", "/tmp/snakepack-build-images.log"))
    with open(log, "w") as f:
        r = subprocess.run([str(REPO / "scripts/build-images"), "--offline"], stdout=f, stderr=subprocess.STDOUT, timeout=3600)
    assert r.returncode == 0, f"scripts/build-images failed; see {log}:\n" + "".join(log.read_text().splitlines(True)[-40:])
    return True


@pytest.mark.parametrize("name", RUNTIMES + BUILDS + APPS + ["base", "all", "all-pillow"])
def test_image_builds_with_oci_labels(built, name):
    tool = "docker" if ENGINE == "docker" else "podman"
    r = run([tool, "image", "inspect", "--format", "{{json .Config.Labels}}", image(name)])
    assert r.returncode == 0, r.stderr
    assert "org.opencontainers.image.title" in r.stdout


@pytest.mark.parametrize("name", RUNTIMES + BUILDS)
def test_python_ssl_sqlite_and_no_bytecode_written(built, name):
    script = (
        "touch /tmp/.start && "
        "python3 -c 'import ssl, sqlite3, json, decimal; print(ssl.OPENSSL_VERSION)' && "
        "find-libdeps --help >/dev/null && wait-for-port --help >/dev/null && apt-install --help >/dev/null && "
        "find / -xdev -name '*.pyc' -newer /tmp/.start"
    )
    r = in_image(name, "sh", "-c", script)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("OpenSSL")
    assert lines[1:] == [], f"byte-code written at run time: {lines[1:]}"


@pytest.mark.parametrize("name", RUNTIMES + BUILDS + APPS)
def test_wait_for_port_against_a_listener(built, name):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    port = s.getsockname()[1]
    try:
        r = in_image(name, "wait-for-port", "-t", "30", f"127.0.0.1:{port}")
    finally:
        s.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"127.0.0.1:{port} is ready" in r.stderr


@pytest.mark.parametrize("name", RUNTIMES + BUILDS)
def test_apt_install_requirements_file(built, name):
    script = "printf '# a real package\\nless\\n' > /tmp/req.txt && apt-install -r /tmp/req.txt >/dev/null && dpkg -s less | grep -q 'Status: install ok installed' && ls /var/lib/apt/lists"
    r = in_image(name, "sh", "-c", script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(r.stdout.split()) <= {"partial", "lock"}


def test_readme_example_ipython_runs(built):
    r = in_image("ipython", "ipython", "--quick", "-c", "print(6 * 7)", )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "42" in r.stdout


def test_certbot_runs(built):
    r = in_image("certbot", "certbot", "--version", )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "certbot" in (r.stdout + r.stderr)


def test_packing_proof_compiled_dependencies(built, capsys):
    """lxml, psycopg2 and pillow built from source in the build stage; only what find-libdeps
    lists installed in the runtime image; there every extension module imports and no ELF file
    of the venv has an unresolved dependency."""
    r = subprocess.run(
        [str(REPO / "scripts/build-images"), "--one", "packing-proof", str(REPO / "tests/data/packing-proof.Dockerfile")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    check = in_image("packing-proof", "sh", "-c", "/usr/share/python3/app/bin/python /usr/share/python3/app/import-all.py && find-libdeps --missing error /usr/share/python3/app")
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    imported = {line.split()[1] for line in lines if line.startswith("imported ")}
    assert {"lxml.etree", "psycopg2._psycopg", "PIL._imaging", "PIL._imagingft"} <= imported
    assert sum(line.startswith("loaded ") for line in lines) >= len(imported)
    assert not [line for line in lines if line.startswith("not imported") and "tkinter" not in line]
    ours = set(in_image("packing-proof", "cat", "/usr/share/python3/app/pkgdeps.txt").stdout.split())
    seed = set(in_image("packing-proof", "cat", "/usr/share/python3/app/seed-pkgdeps.txt").stdout.split())
    with capsys.disabled():
        print(f"\npacking proof: runtime image {size('packing-proof') / 1e6:.0f} MB; find-libdeps: {' '.join(sorted(ours))}")
        print(f"packing proof: the original pipeline would add: {' '.join(sorted(seed - ours)) or '-'}; would miss: {' '.join(sorted(ours - seed)) or '-'}")


def test_print_image_sizes(built, capsys):
    rows = [(name, size(name)) for name in ["base"] + RUNTIMES + BUILDS + APPS]
    with capsys.disabled():
        print("\nimage sizes:")
        for name, bytes_ in rows:
            print(f"  snakepack/python:{name:<18} {bytes_ / 1e6:8.0f} MB")
    assert all(b > 0 for _, b in rows)
