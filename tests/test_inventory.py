"""python -m snakepack.inventory (snakepack/inventory.py), on a root made of this machine's real
dpkg status and os-release and a real venv: its lists are dpkg-query's and the venv's own, each
package carries the stage whose saved status first has it, and the document is valid CycloneDX
1.6 (cyclonedx-python-lib's validator, from locks/sbom-X.Y.txt) and the same on a second run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import locked_venv, run
from test_sbom import validate

pytestmark = pytest.mark.skipif(not Path("/var/lib/dpkg/status").exists(), reason="no dpkg database here")


@pytest.fixture(scope="module")
def judges(tmp_path_factory) -> Path:
    return locked_venv(tmp_path_factory, "sbom")


def inventory(*args: object, env=None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "snakepack.inventory", *args], env=env)


def stanzas(text: str) -> list[str]:
    return [s for s in text.split("\n\n") if s.strip()]


def test_inventory_marks_each_package_with_the_stage_that_brought_it(tmp_path, judges):
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy("/etc/os-release", root / "etc/os-release")
    status = Path("/var/lib/dpkg/status").read_text()
    installed = [s for s in stanzas(status) if "\nStatus: install ok installed" in s]
    later = installed[-1]  # the base stage goes without it: the next one brings it
    (root / "var/lib/dpkg/status").write_text("\n\n".join(s for s in stanzas(status) if s != later) + "\n")
    r = inventory("--root", root, "base")
    assert (r.returncode, r.stderr) == (0, "")
    (root / "var/lib/dpkg/status").write_text(status)
    venv = root / "usr/share/python3/app"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    r = inventory("--root", root, "app")
    assert (r.returncode, r.stderr) == (0, "")
    out = root / "usr/share/snakepack/inventory"
    assert sorted(p.name for p in (out / "stages").iterdir()) == ["1-base.status", "2-app.status"]
    dpkg = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}=${Version} ${Architecture}\n"]).stdout
    rows = [line[4:].partition("=") for line in dpkg.splitlines() if line.startswith("ii ")]
    expected = [f"{n}={rest}\n" for n, _, rest in sorted(rows, key=lambda r: (r[0], r[2].split()[-1]))]
    assert (out / "packages.txt").read_text() == "".join(expected)
    pip = run([venv / "bin/python", "-m", "pip", "list", "--format", "json"]).stdout
    listed = sorted(f"{d['name']}=={d['version']}\n" for d in json.loads(pip))
    assert (out / "python/usr_share_python3_app.txt").read_text() == "".join(listed)
    doc = json.loads((out / "sbom.cdx.json").read_text())
    validate(judges, doc)
    stage = {
        c["name"]: p["value"] for c in doc["components"] for p in c["properties"] if p["name"] == "snakepack:stage"
    }
    later_name = next(line.split(": ", 1)[1] for line in later.splitlines() if line.startswith("Package: "))
    assert len(stage) == len(expected)
    assert stage.pop(later_name) == "app" and set(stage.values()) == {"base"}
    envs = {
        c["name"]: p["value"]
        for c in doc["components"]
        for p in c["properties"]
        if p["name"] == "snakepack:environment"
    }
    assert envs["pip"] == "/usr/share/python3/app"
    first = (out / "sbom.cdx.json").read_bytes()
    (out / "stages/2-app.status").unlink()
    assert inventory("--root", root, "app").returncode == 0
    assert (out / "sbom.cdx.json").read_bytes() == first  # the same root, the same bytes


@pytest.mark.parametrize("args", [["Base"], ["--root", "/nonexistent", "base"]])
def test_inventory_bad_input_is_one_line_and_exit_2(args):
    r = inventory(*args)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("inventory: "), r.stderr
