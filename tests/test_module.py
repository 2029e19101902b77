"""The extension module itself: multi-phase initialisation with per-module state."""

import importlib.util

import snakepack
from snakepack import _core


def load_again():
    """Executes the extension once more into a fresh module object."""
    spec = importlib.util.spec_from_file_location("snakepack._core", _core.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reimport_creates_independent_module_state():
    other = load_again()
    assert other is not _core
    # Each module object creates its own exception type in its exec slot: a single-phase
    # module would hand back the same cached objects.
    assert other.Error is not _core.Error
    assert issubclass(other.Error, Exception)
    assert other.dpkg_installed("/var/lib/dpkg/status") == _core.dpkg_installed("/var/lib/dpkg/status")


def test_errors_become_oserror_subclasses(tmp_path):
    missing = tmp_path / "missing"
    try:
        _core.dpkg_installed(missing)
    except FileNotFoundError as err:
        assert str(missing) in str(err)
    else:
        raise AssertionError("no error for a missing status file")


def test_package_exports_version():
    assert snakepack.__version__.count(".") == 2
