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


def test_failed_allocations_while_building_results_release_each_object_once(tmp_path):
    """Every Python allocation from the Nth on fails, for each N in turn, while resolve() and
    wait() build their results: each call ends in a result or a MemoryError, and no object is
    released twice. A second release of an object the calls borrow shows as its reference
    count falling (a freed list would be reused from CPython's free list, unseen even by
    AddressSanitizer). The objects watched are made at run time, so they are mortal: None,
    True and small numbers are immortal from Python 3.12 on, and their counts never move."""
    import shutil
    import sys

    from conftest import run

    tree = tmp_path / "t"
    tree.mkdir()
    shutil.copy(_core.__file__, tree / "a.so")  # loads libelf, libc: files with owners
    shutil.copy("/usr/lib/x86_64-linux-gnu/libz.so.1", tree / "libz.so.1")
    code = f"""
import gc, sys, _testcapi
from snakepack import _core
root = "".join(["/"])
tree = "".join([{str(tree)!r}])
paths = [tree]
endpoint = "".join(["unix:/nonexistent.sock"])
endpoints = [endpoint]
on_event = lambda *args: None
watched = {{"root": root, "tree": tree, "paths": paths, "endpoint": endpoint, "endpoints": endpoints, "on_event": on_event}}
before = {{name: sys.getrefcount(o) for name, o in watched.items()}}
for start in range(1, 400):
    _testcapi.set_nomemory(start, 0)
    try:
        _core.resolve(root, paths)
        _core.wait(endpoints, 0.01, 0.005, on_event=on_event)
    except MemoryError:
        pass
    finally:
        _testcapi.remove_mem_hooks()
gc.collect()
for name, o in watched.items():
    print(name, before[name] - sys.getrefcount(o), sep=":")
"""
    r = run([sys.executable, "-c", code])
    assert r.returncode == 0, r.stderr[-3000:]
    lost = dict(line.split(":") for line in r.stdout.splitlines())
    assert len(lost) == 6
    assert {name: int(n) for name, n in lost.items() if int(n) > 0} == {}, "references lost"


def test_calls_from_many_threads_at_once_give_the_answers_of_one(tmp_path):
    """resolve(), dpkg_owners(), python_calls() and wait() from eight threads at once, each
    call as often as the others meanwhile: every answer is the one a lone call gives. The C
    cores run with the GIL released everywhere; on a free-threaded Python (3.13t, tested
    with PYTHON_GIL=0 by scripts/test-in-root --free-threaded) so do the bindings that turn
    their results into Python objects."""
    import shutil
    import threading

    from loopback import listener_later

    tree = tmp_path / "t"
    tree.mkdir()
    shutil.copy(_core.__file__, tree / "a.so")  # loads libelf, libc: files with owners
    shutil.copy("/usr/lib/x86_64-linux-gnu/libz.so.1", tree / "libz.so.1")
    source = b"import ctypes\nctypes.CDLL('libz.so.1')\nffi.dlopen('libm.so.6')\n"
    owned = ["/usr/bin/dpkg", "/bin/sh", "/usr/lib/x86_64-linux-gnu/libz.so.1"]
    events = []
    with listener_later(0) as port:  # one that accepts: a full backlog would stall connects
        endpoints = [f"127.0.0.1:{port}", f"localhost:{port}"]

        def calls():
            outcome, results = _core.wait(endpoints, 30.0, 0.05, on_event=lambda *e: events.append(e[1]))
            return (
                _core.resolve("/", [str(tree)], dlopen=2, symbols=True),
                _core.dpkg_owners("/", owned),
                _core.python_calls(source),
                (outcome, [r[0] for r in results]),
            )

        alone = calls()
        start, answers = threading.Barrier(8), []

        def worker():
            start.wait()
            answers.extend(calls() for _ in range(10))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert alone[3] == (0, [True, True])
    assert len(answers) == 80
    assert [i for i, a in enumerate(answers) if a != alone] == []
    assert events.count("done") == 2 * 81
