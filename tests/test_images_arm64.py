"""arm64 images, built and tested on this amd64 machine under emulation (qemu-user-static
through binfmt_misc, scripts/setup-binfmt): the base, a Debian-packaged Python's build and
runtime images. Inside them the three commands run and find-libdeps lists arm64 packages; from
the host, find-libdeps --root on the unpacked arm64 image gives the same list; the host's and
the arm64 images join in a local multi-platform manifest list."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import run, tool
from test_images import ENGINE, MATRIX, image, in_image

REPO = Path(__file__).resolve().parent.parent
PYTHON = MATRIX.default  # a Debian-packaged Python: no CPython compile under emulation
NAMES = [i.name for i in MATRIX.foreign_ci()]  # base, build and runtime image of PYTHON

pytestmark = [
    pytest.mark.needs("images"),
    pytest.mark.skipif(ENGINE != "buildah", reason="arm64 images are built here with podman and buildah"),
]


@pytest.fixture(scope="module")
def arm64():
    r = run([REPO / "scripts/setup-binfmt"])
    assert r.returncode == 0, r.stderr
    log = Path(os.environ.get("SNAKEPACK_IMAGES_LOG", "/tmp/snakepack-build-images-arm64.log"))
    with open(log, "w") as f:
        r = subprocess.run(
            [str(REPO / "scripts/build-images"), "--platform", "linux/arm64", "--ci", "--offline", "--manifest"],
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=3600,
        )
    assert r.returncode == 0, f"see {log}:\n" + "".join(log.read_text().splitlines(True)[-40:])
    return {name: f"{name}-arm64" for name in NAMES}


def test_arm64_images_run_the_three_commands(arm64):
    for name in NAMES[1:]:
        r = in_image(
            arm64[name],
            "sh",
            "-c",
            "uname -m && find-libdeps --version && wait-for-port --version && apt-install --version",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.split()[0] == "aarch64"


def test_find_libdeps_lists_arm64_packages_inside_and_from_the_host(arm64, tmp_path):
    venv = "/usr/share/python3/snakepack"
    r = in_image(arm64[PYTHON.name], "find-libdeps", "--json", venv)
    assert r.returncode == 0, r.stderr
    inside = json.loads(r.stdout)["packages"]
    assert inside and {p["arch"] for p in inside} <= {"arm64", "all"}
    assert "libc6" in {p["name"] for p in inside}
    # the same image, unpacked and analysed from the amd64 host
    mount = run(["podman", "image", "mount", image(arm64[PYTHON.name])])
    assert mount.returncode == 0, mount.stderr
    try:
        r = run([tool("find-libdeps"), "--json", "--root", mount.stdout.strip(), venv])
    finally:
        run(["podman", "image", "unmount", image(arm64[PYTHON.name])])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["packages"] == inside


def test_a_multi_platform_manifest_list_is_assembled(arm64):
    r = run(["podman", "manifest", "inspect", image(f"{PYTHON.name}-multi")])
    assert r.returncode == 0, r.stderr
    platforms = sorted(
        f"{m['platform']['os']}/{m['platform']['architecture']}" for m in json.loads(r.stdout)["manifests"]
    )
    assert platforms == ["linux/amd64", "linux/arm64"]
