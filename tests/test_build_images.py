"""scripts/build-images (snakepack_tools/build_images.py): what it tells apart without building
anything. The builds themselves are tests/test_images.py's."""

from snakepack_tools import build_images

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
