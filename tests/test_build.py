"""Building the extension: a missing libelf header stops the build with one clear line."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run

REPO = Path(__file__).resolve().parent.parent


def test_missing_libelf_header_names_the_package(tmp_path):
    gelf = Path("/usr/include/gelf.h")
    if not gelf.exists() or shutil.which("unshare") is None:
        pytest.skip("needs libelf-dev installed and unshare to hide it")
    # A private mount namespace hides the header from this build only.
    script = (
        f"mount --bind /dev/null {gelf} && "
        f"exec {sys.executable} setup.py -q build_ext --build-lib {tmp_path}/lib --build-temp {tmp_path}/tmp"
    )
    r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=REPO)
    if "unshare failed" in r.stderr or "mount:" in r.stderr:
        pytest.skip(f"cannot make a mount namespace here: {r.stderr.strip()}")
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if "libelf-dev" in l]
    assert lines == ["snakepack: libelf headers (gelf.h) not found: install the Debian package libelf-dev"]
