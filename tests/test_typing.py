"""Types are code: the package passes mypy --strict, and the stub of the C extension
(snakepack/_core.pyi) matches the module itself, as mypy's stubtest sees it."""

import sys
from pathlib import Path

from conftest import python_commands, run

REPO = Path(__file__).resolve().parent.parent


def test_package_passes_mypy_strict(tmp_path):
    r = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", tmp_path, "snakepack"], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stub_matches_the_extension_module(tmp_path):
    # stubtest imports the installed module and compares it with the installed stub
    r = run([sys.executable, "-m", "mypy.stubtest", "snakepack._core"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_project_tools_pass_mypy_strict(tmp_path):
    # scripts/snakepack_tools and the standalone installer the image builds copy in
    r = run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            tmp_path,
            "-p",
            "snakepack_tools",
            "-m",
            "install_locked",
        ],
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_commands_in_scripts_are_thin_entry_points():
    # the code is in snakepack_tools, where the checks above see it; a command only calls it
    commands = python_commands()
    assert len(commands) >= 8
    for path in commands:
        text = path.read_text()
        assert "sys.path" not in text, path.name
        assert len(text.splitlines()) <= 10 and "from snakepack_tools." in text, (
            f"{path.name}: more than an entry point"
        )
        r = run([path, "--help"])
        assert r.returncode == 0 and r.stdout, (path.name, r.stderr)
