"""scripts/gen-dockerfiles: every Dockerfile of images/ is what its template makes with the one
policy of scripts/snakepack_tools/gen_dockerfiles.py, and the generator refuses what it does
not know."""

import sys
from pathlib import Path

import snakepack_tools
from conftest import run
from snakepack_tools import gen_dockerfiles

REPO = Path(__file__).resolve().parent.parent


def test_every_dockerfile_is_generated_from_its_template():
    r = run([sys.executable, REPO / "scripts/gen-dockerfiles", "--check"])
    assert r.returncode == 0, r.stderr
    made = {t.parent.name for t in gen_dockerfiles.templates()}
    assert made == {p.parent.name for p in REPO.glob("images/*/Dockerfile")}


def test_the_apt_policy_is_written_once():
    # the stanza lives in the fragments; a template that spells it out again is a second policy
    for template in gen_dockerfiles.templates():
        text = template.read_text()
        assert "apt.conf.d/00build; fi" not in text, template
        assert "/var/cache/apt/*.bin" not in text, template


def test_every_stage_declares_the_builds_moment():
    # without it a stage's byte-code is timestamp-based, and stale once the layer's mtimes are
    # rewritten to the build's moment: Python would compile again at every start
    for dockerfile in REPO.glob("images/*/Dockerfile"):
        lines = dockerfile.read_text().splitlines()
        stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
        assert stages, dockerfile
        for i in stages:
            assert lines[i + 1] == "ARG SOURCE_DATE_EPOCH", f"{dockerfile}:{i + 2}"


def test_an_unknown_fragment_is_named(tmp_path, monkeypatch):
    template = REPO / "images" / "base" / "Dockerfile.template"
    bad = tmp_path / "Dockerfile.template"
    bad.write_text(template.read_text() + "RUN {{no_such_fragment}}\n")
    monkeypatch.setattr(gen_dockerfiles, "REPO", tmp_path)
    try:
        gen_dockerfiles.render(bad)
    except ValueError as err:
        assert "no fragment 'no_such_fragment'" in str(err)
    else:
        raise AssertionError("rendered a template with an unknown fragment")


def test_check_fails_on_a_hand_edited_dockerfile(tmp_path, monkeypatch):
    for template in gen_dockerfiles.templates():
        copy = tmp_path / template.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(template.read_text())
        copy.with_name("Dockerfile").write_text(template.with_name("Dockerfile").read_text())
    (tmp_path / "images/base/Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setattr(gen_dockerfiles, "REPO", tmp_path)
    monkeypatch.setattr(snakepack_tools, "REPO", tmp_path)
    assert gen_dockerfiles.main(["--check"]) == 1
    assert gen_dockerfiles.main([]) == 0 and gen_dockerfiles.main(["--check"]) == 0
