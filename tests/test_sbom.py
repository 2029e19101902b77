"""find-libdeps --sbom (snakepack/sbom.py), judged by the CycloneDX 1.6 schema (cyclonedx-python-lib's
validator), by cyclonedx-py environment for the Python components and by dpkg-query for the
Debian ones; on a venv of manylinux wheels (bundled libraries), on Debian's dist-packages (where
psycopg2 needs libpq5), and on a distribution whose Python source loads a library with ctypes
(--dlopen). The judges come from locks/sbom-X.Y.txt, in a venv of their own."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest import locked_venv, run, tool

DIST = "/usr/lib/python3/dist-packages"

VALIDATE = """
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())
print("valid" if errors is None else errors)
"""


@pytest.fixture(scope="module")
def judges(tmp_path_factory) -> Path:
    return locked_venv(tmp_path_factory, "sbom")


def sbom(*args, env=None) -> dict:
    r = run([tool("find-libdeps"), "--sbom", *args], env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def validate(judges: Path, doc: dict) -> None:
    r = run([judges / "bin/python", "-c", VALIDATE], input=json.dumps(doc))
    assert r.stdout.strip() == "valid", r.stdout + r.stderr


def site_of(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3*/site-packages")
    return site


def by_ref(doc: dict) -> dict[str, dict]:
    found = {}
    for c in doc["components"]:
        found[c["bom-ref"]] = c
        for sub in c.get("components", []):
            found[sub["bom-ref"]] = sub
    return found


def depends(doc: dict) -> dict[str, list[str]]:
    return {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}


def licences(entries) -> set[str]:
    """A licence choice as a set of texts: an SPDX id and an expression of that one id alike."""
    return {e.get("expression") or e["license"].get("id") or e["license"].get("name") for e in entries or []}


def test_the_sbom_of_a_venv_of_wheels_is_valid_and_its_python_part_is_cyclonedx_pys(judges, wheels_venv):
    doc = sbom(site_of(wheels_venv))
    validate(judges, doc)
    ours = {c["purl"]: c for c in doc["components"] if c["purl"].startswith("pkg:pypi/")}
    r = run([judges / "bin/cyclonedx-py", "environment", "--output-reproducible", wheels_venv / "bin/python"])
    assert r.returncode == 0, r.stderr
    theirs = {c["purl"]: c for c in json.loads(r.stdout)["components"]}
    assert sorted(ours) == sorted(theirs)
    for purl, c in ours.items():
        assert (c["name"], c["version"]) == (theirs[purl]["name"], theirs[purl]["version"])
    # the licence a distribution declares with License-Expression (PEP 639) is the same; for
    # the others cyclonedx-py maps trove classifiers to SPDX ids with a table of its own, and
    # find-libdeps names the classifier
    declared = [p for p, c in ours.items() if "expression" in (c.get("licenses") or [{}])[0]]
    assert len(declared) >= 2, declared  # numpy, pillow
    for purl in declared:
        assert licences(ours[purl]["licenses"]) == licences(theirs[purl].get("licenses")), purl


def test_bundled_libraries_belong_to_the_distribution_that_ships_them(wheels_venv):
    site = site_of(wheels_venv)
    doc = sbom(site)
    numpy = next(c for c in doc["components"] if c["name"] == "numpy")
    bundled = {
        Path(p["value"]).name: c for c in numpy["components"] for p in c["properties"] if p["name"] == "snakepack:path"
    }
    assert set(bundled) == {p.name for p in (site / "numpy.libs").iterdir()}
    for name, c in bundled.items():
        assert c["hashes"] == [
            {"alg": "SHA-256", "content": hashlib.sha256((site / "numpy.libs" / name).read_bytes()).hexdigest()}
        ]
    openblas = next(c["bom-ref"] for n, c in bundled.items() if "openblas" in n)
    assert openblas in depends(doc)[numpy["bom-ref"]]  # numpy's extension modules load it


def test_debian_components_are_dpkgs_and_say_why_libpq5_is_here(judges):
    if not os.path.isdir(f"{DIST}/psycopg2"):
        pytest.skip("needs Debian's python3-psycopg2")
    doc = sbom("--versions", DIST)
    validate(judges, doc)
    debs = [c for c in doc["components"] if c["purl"].startswith("pkg:deb/debian/")]
    listed = run([tool("find-libdeps"), DIST]).stdout.split()
    assert sorted(c["name"] for c in debs) == listed
    for c in debs:
        arch = c["purl"].split("arch=")[1].split("&")[0]
        q = run(["dpkg-query", "-W", "-f=${Version} ${source:Package}", f"{c['name']}:{arch}"])
        version, source = q.stdout.split()
        props = {p["name"]: p["value"] for p in c["properties"]}
        assert (c["version"], props["snakepack:deb:source"]) == (version, source)
        assert props["snakepack:deb:minimum"].startswith(c["name"])  # --versions
    psycopg2 = next(c["bom-ref"] for c in doc["components"] if c["name"] == "psycopg2")
    libpq5 = next(c["bom-ref"] for c in debs if c["name"] == "libpq5")
    assert libpq5 in depends(doc)[psycopg2]
    libssl3 = next(c["bom-ref"] for c in debs if c["name"] == "libssl3")
    assert libssl3 in depends(doc)[libpq5]  # a package's needs, from its libraries' load trees


def test_a_library_a_python_source_loads_is_named_with_its_source(tmp_path, judges):
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/libmagic.so.1"):
        pytest.skip("needs libmagic1")
    site = tmp_path / "site"
    (site / "magicwrap").mkdir(parents=True)
    (site / "magicwrap/__init__.py").write_text('import ctypes\n\nlib = ctypes.CDLL("libmagic.so.1")\n')
    meta = site / "magicwrap-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.4\nName: magicwrap\nVersion: 1.0\nLicense-Expression: MIT\n")
    (meta / "RECORD").write_text(
        "magicwrap/__init__.py,,\nmagicwrap-1.0.dist-info/METADATA,,\nmagicwrap-1.0.dist-info/RECORD,,\n"
    )
    doc = sbom("--dlopen", "suggested", site)
    validate(judges, doc)
    libmagic = next(c for c in doc["components"] if c["name"] == "libmagic1")
    assert libmagic["bom-ref"] in depends(doc)["pkg:pypi/magicwrap@1.0"]
    sources = [p["value"] for p in libmagic["properties"] if p["name"] == "snakepack:source"]
    assert sources == [f"python: ctypes.CDLL() at {site}/magicwrap/__init__.py:3"]  # as --json says it


def test_the_same_tree_gives_the_same_bytes(wheels_venv, tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    runs = [run([tool("find-libdeps"), "--sbom", site_of(wheels_venv)], env=env).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    doc = json.loads(runs[0])
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert doc["serialNumber"].startswith("urn:uuid:") and doc["serialNumber"][23] == "5"  # a UUIDv5
    assert (
        "timestamp"
        not in sbom(site_of(wheels_venv), env={k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"})[
            "metadata"
        ]
    )
    r = run([tool("find-libdeps"), "--sbom", tmp_path], env=dict(os.environ, SOURCE_DATE_EPOCH="yesterday"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "SOURCE_DATE_EPOCH" in r.stderr


def test_sbom_excludes_the_other_outputs(tmp_path):
    r = run([tool("find-libdeps"), "--sbom", "--json", tmp_path])
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
