"""Types are code: the package passes mypy --strict, and the stub of the C extension
(snakepack/_core.pyi) matches the module itself, as mypy's stubtest sees it."""

import sys
from pathlib import Path

from conftest import run

REPO = Path(__file__).resolve().parent.parent


def test_package_passes_mypy_strict(tmp_path):
    r = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", tmp_path, "snakepack"], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stub_matches_the_extension_module(tmp_path):
    # stubtest imports the installed module and compares it with the installed stub
    r = run([sys.executable, "-m", "mypy.stubtest", "snakepack._core"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
