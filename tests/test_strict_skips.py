"""The CI rule of conftest.py: under scripts/test (SNAKEPACK_STRICT=1) a skipped test is a failed
one, unless it is marked may_skip(REASON) and the skip's own reason holds REASON; a fixture's
skip is judged the same way."""

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()

TESTS = """
import pytest

@pytest.fixture
def tarball():
    pytest.skip("https://example.invalid/Python.tar.xz cannot be fetched here")

@pytest.fixture
def daemon():
    pytest.skip("no daemon answers")

@pytest.mark.may_skip("cannot be fetched here")
def test_allowed(tarball):
    pass

@pytest.mark.may_skip("cannot be fetched here")
def test_allowed_inline():
    pytest.skip("Python 3.9: cannot be fetched here")

@pytest.mark.may_skip("cannot be fetched here")
def test_another_reason(daemon):
    pass

def test_unmarked():
    pytest.skip("cannot be fetched here")
"""


@pytest.fixture
def outcomes(pytester, monkeypatch):
    monkeypatch.setenv("SNAKEPACK_STRICT", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess("-v")  # a process of its own reads SNAKEPACK_STRICT
    # "test_x.py::test_name OUTCOME ...", one line per test
    return {
        line.split()[0].split("::")[1]: line.split()[1]
        for line in result.outlines
        if "::test_" in line.split(" ", 1)[0]
    }


def test_a_skip_whose_reason_the_marker_names_is_allowed(outcomes):
    assert outcomes["test_allowed"] == "SKIPPED"
    assert outcomes["test_allowed_inline"] == "SKIPPED"


def test_a_skip_for_another_reason_fails_a_marked_test(outcomes):
    assert outcomes["test_another_reason"] in ("FAILED", "ERROR")


def test_a_skip_fails_an_unmarked_test(outcomes):
    assert outcomes["test_unmarked"] == "FAILED"
