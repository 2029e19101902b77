"""What builds and publishes the family elsewhere, checked here: docker-bake.hcl is the one
scripts/gen-bake makes from the matrix and is what BuildKit's bake reads (docker buildx bake
--print, Debian 13's docker-buildx, inside a trixie root: it needs no daemon), the publishing
workflow validates against GitHub's workflow schema, and every Dockerfile lints clean."""

from __future__ import annotations

import glob
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import cached_trixie, run
from snakepack_tools.matrix import Matrix

pytestmark = pytest.mark.needs("images")  # buildx, hadolint and the workflow of the image family

REPO = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent


def test_bake_file_is_generated_from_the_matrix():
    r = run([sys.executable, REPO / "scripts/gen-bake", "--check"])
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def bake_print():
    """docker buildx bake --print of the checkout's bake file, run by Debian 13's buildx."""
    root = cached_trixie()
    work = root / "src"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for name in ("docker-bake.hcl",):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "images", work / "images")
    shutil.copytree(REPO / "tests/data", work / "tests/data")
    plugin = "/usr/libexec/docker/cli-plugins/docker-buildx"
    # a clean environment: bake takes its variables (REGISTRY, PIP_CERT...) from it
    r = run(
        [
            "chroot",
            root,
            "env",
            "-i",
            "HOME=/tmp",
            "PATH=/usr/bin:/bin",
            "sh",
            "-c",
            f"cd /src && {plugin} bake --print default",
        ],
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(r.stdout)


def test_bake_prints_every_image_with_the_matrix_tags_args_and_contexts(bake_print):
    m = Matrix()
    targets = bake_print["target"]
    images = m.images()
    assert sorted(targets) == sorted(i.name.replace(".", "-") for i in images)
    for image in images:
        t = targets[image.name.replace(".", "-")]
        assert t["tags"] == [f"{m.registry}:{image.name}"]
        assert t["dockerfile"] == image.dockerfile
        assert t.get("target") == image.target
        assert t["platforms"] == m.platforms
        expected = dict(image.args) | {"SOURCE_DATE_EPOCH": ""}
        if "PGO" in expected:
            expected["PGO"] = expected["LTO"] = "1"
        assert {k: v for k, v in t.get("args", {}).items()} == expected, image.name
        assert t.get("contexts", {}) == {ctx: f"target:{n.replace('.', '-')}" for ctx, n in image.needs.items()}


def test_publishing_workflow_validates_against_the_github_schema():
    r = run(
        [
            BIN / "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *glob.glob(str(REPO / ".github/workflows/*.yml")),
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_dockerfile_lints_clean():
    files = glob.glob(str(REPO / "images/*/Dockerfile")) + glob.glob(str(REPO / "tests/data/*.Dockerfile"))
    assert len(files) >= 7
    r = run([BIN / "hadolint", "--config", REPO / ".hadolint.yaml", *files])
    assert r.returncode == 0, r.stdout + r.stderr
