"""scripts/build-images (snakepack_tools/build_images.py): what it tells apart without building
anything, the moment it gives every build, and the Debian base it imports. The builds
themselves are tests/test_images.py's."""

import os
from pathlib import Path

import pytest

from conftest import run
from snakepack_tools import build_images

REPO = Path(__file__).resolve().parent.parent

# as buildah 1.28 (Debian 12) wrote it in a CI log, the RUN step's command never started
HICCUP = """[2/3] STEP 8/8: RUN --mount=type=secret,id=pip-cert     if [ -s /run/secrets/pip-cert ]; then ...
Close_Fd sealing memfd copy: Device or resource busy
Error: building at STEP "RUN --mount=type=secret,id=pip-cert ...": exit status 1
"""


def test_an_engine_hiccup_is_told_from_a_failed_step():
    assert build_images.engine_hiccup(HICCUP) == "Close_Fd sealing memfd copy: Device or resource busy"
    failed = (
        'E: Unable to locate package libfoo\nError: building at STEP "RUN apt-get install libfoo": exit status 100\n'
    )
    assert build_images.engine_hiccup(failed) is None


def test_run_shown_passes_the_output_on_and_keeps_its_end(capsys):
    status, output = build_images.run_shown(["sh", "-c", "seq 1 300; exit 3"])
    assert status == 3
    assert output.splitlines() == [str(n) for n in range(101, 301)]
    assert capsys.readouterr().out.splitlines() == [str(n) for n in range(1, 301)]


def test_source_date_epoch_is_the_given_one_or_the_commits(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_images.source_date_epoch() == "1700000000"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(SystemExit, match="SOURCE_DATE_EPOCH is not a number of seconds: 'yesterday'"):
        build_images.source_date_epoch()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    commit = run(["git", "-C", REPO, "log", "-1", "--format=%ct"])
    assert build_images.source_date_epoch() == commit.stdout.strip()


@pytest.mark.needs("images")  # buildah, and root for the owners
def test_an_imported_root_is_the_same_image_at_every_import(tmp_path, monkeypatch):
    """A debootstrapped root becomes the Debian base through import_root(): two imports are one
    image (podman import would stamp each with its own time), owners kept, every time the
    build's moment."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chown(root / "etc/shadow", 0, 42)
    os.utime(root / "etc/shadow", (1, 1))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    refs = [f"localhost/snakepack-test/import:{n}" for n in (1, 2)]
    engine = build_images.Engine(None)
    try:
        for ref in refs:
            build_images.import_root(engine, root, ref)
        ids = [run(["podman", "image", "inspect", "--format", "{{.Id}}", ref]).stdout for ref in refs]
        assert ids[0] == ids[1]
        ctr = run(["buildah", "from", "--pull-never", refs[0]]).stdout.strip()
        try:
            mnt = Path(run(["buildah", "mount", ctr]).stdout.strip())
            st = (mnt / "etc/shadow").stat()
            assert (st.st_uid, st.st_gid, st.st_mtime) == (0, 42, 1700000000)
        finally:
            run(["buildah", "rm", ctr])
    finally:
        run(["podman", "rmi", *refs])
