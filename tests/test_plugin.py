"""The pytest plugin (snakepack/pytest_plugin.py), run through pytester against listeners on
loopback held open by this test process."""

import pytest

from loopback import Listener, listening


@pytest.fixture
def up():
    """HOST:PORT of a listener that accepts for the whole test."""
    with listening() as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture
def down():
    """HOST:PORT on which nothing listens (bound, so nobody else takes it)."""
    with Listener() as held:
        yield f"127.0.0.1:{held.port}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("WAIT_FOR_PORTS", "WAIT_FOR_PORT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


def test_marker_waits_and_fails_the_test_listing_what_is_down(pytester, up, down):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.wait_for("{up}")
        def test_up():
            pass

        @pytest.mark.wait_for("{up}", "{down}", timeout=0.3)
        def test_down():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*wait_for: timed out after 0.3 s waiting for {down} (Connection refused)*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_marker_is_registered_for_strict_markers(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.wait_for(*endpoints, timeout=None, cacert=None, insecure=False)*"])


def test_session_endpoints_from_the_command_line(pytester, up, down):
    pytester.makepyfile("def test_one():\n    pass\n")
    pytester.runpytest("--wait-for", up).assert_outcomes(passed=1)
    result = pytester.runpytest("--wait-for", up, "--wait-for", down, "--wait-for-timeout", "0.3")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*wait-for: timed out after 0.3 s waiting for {down}*"])
    result.stdout.no_fnmatch_line("*passed*")  # no test ran


def test_precedence_cli_over_env_over_ini(pytester, up, down, monkeypatch):
    pytester.makeini(f"[pytest]\nwait_for = {down}\nwait_for_timeout = 0.3\n")
    pytester.makepyfile("def test_one():\n    pass\n")
    assert pytester.runpytest().ret == pytest.ExitCode.TESTS_FAILED  # the ini alone
    monkeypatch.setenv("WAIT_FOR_PORTS", up)
    pytester.runpytest().assert_outcomes(passed=1)  # env over ini
    monkeypatch.setenv("WAIT_FOR_PORTS", down)
    pytester.runpytest("--wait-for", up).assert_outcomes(passed=1)  # command line over env


def test_precedence_of_timeouts_marker_first(pytester, down, monkeypatch):
    pytester.makeini("[pytest]\nwait_for_timeout = 30\n")
    monkeypatch.setenv("WAIT_FOR_PORT_TIMEOUT", "20")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.wait_for("{down}", timeout=0.2)
        def test_marker():
            pass

        @pytest.mark.wait_for("{down}")
        def test_default():
            pass
        """
    )
    result = pytester.runpytest("--wait-for-timeout", "0.4")
    result.stdout.fnmatch_lines(["*timed out after 0.2 s*", "*timed out after 0.4 s*"])
    monkeypatch.setenv("WAIT_FOR_PORT_TIMEOUT", "0.3")
    result = pytester.runpytest("-k", "default")
    result.stdout.fnmatch_lines(["*timed out after 0.3 s*"])  # env over ini


def test_fixture(pytester, up, down):
    pytester.makepyfile(
        f"""
        def test_ready(wait_for_port):
            (result,) = wait_for_port("{up}")
            assert result.ready

        def test_times_out(wait_for_port):
            wait_for_port("{down}", timeout=0.2)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*wait_for_port: timed out after 0.2 s waiting for {down}*"])


def test_bad_endpoint_is_a_usage_error(pytester):
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest("--wait-for", "db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*wait-for: db: missing port*"])


def test_under_xdist_session_endpoints_are_waited_for_once(pytester, up, down):
    pytest.importorskip("xdist")
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(4))\ndef test_many(i):\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2", "--wait-for", up)
    result.assert_outcomes(passed=4)
    result = pytester.runpytest_subprocess("-n", "2", "--wait-for", down, "--wait-for-timeout", "0.3")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert str(result.stdout).count("wait-for: timed out") == 1


def test_marker_takes_file_endpoints(pytester, tmp_path):
    there, missing = tmp_path / "there", tmp_path / "missing"
    there.write_text("x")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.wait_for("file:{there}")
        def test_there():
            pass

        @pytest.mark.wait_for("file:{missing}", timeout=0.2)
        def test_missing():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*timed out after 0.2 s waiting for file:{missing} (no such file)*"])
