"""The Python of the checkout (the package, the tests, scripts/snakepack_tools and the commands
in scripts/ written in Python) passes ruff's checks and is as ruff formats it, with the
settings of pyproject.toml and ruff from the test lock."""

import sys
from pathlib import Path

from conftest import python_commands, run

REPO = Path(__file__).resolve().parent.parent
RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_check_finds_nothing():
    r = run([*RUFF, "check", "--no-cache", ".", *map(str, python_commands())], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_changes_nothing():
    r = run([*RUFF, "format", "--no-cache", "--check", ".", *map(str, python_commands())], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_check_fails_on_a_defect(tmp_path):
    # the check above can fail: an unused import in a file under the same settings
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    r = run([*RUFF, "check", "--no-cache", "--config", REPO / "pyproject.toml", bad], cwd=REPO)
    assert r.returncode == 1 and "F401" in r.stdout, r.stdout + r.stderr
