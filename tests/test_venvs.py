"""find-libdeps --check on the virtual environments under PATH (snakepack/venvs.py): venvs made
here for real, by Debian 12's Python 3.11 (the host's) and Debian 13's Python 3.13 (its root's),
checked in roots whose Python they were or were not made for."""

from __future__ import annotations

import glob
import shutil
import sys
import uuid

import pytest
from snakepack import venvs
from snakepack.confined import Root

from conftest import run, tool


@pytest.fixture
def place():
    """Puts a venv (copied, its symlinks as they are) or makes one with a root's own Python at a
    fresh /opt/venv-* of a root, and takes it away after the test."""
    made = []

    def put(root, venv=None):
        where = f"/opt/venv-{uuid.uuid4().hex}"
        made.append(root / where.lstrip("/"))
        if venv is None:
            r = run(["chroot", root, "python3", "-m", "venv", "--without-pip", where])
            assert r.returncode == 0, r.stderr
        else:
            shutil.copytree(venv, root / where.lstrip("/"), symlinks=True)
        return where

    yield put
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def debian12_venv(tmp_path_factory):
    """A venv of the host's Python 3.11 (Debian 12's /usr/bin/python3): its bin/python3 leads to
    /usr/bin/python3."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    r = run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv])
    assert r.returncode == 0, r.stderr
    return venv


def check(root, path):
    return run([tool("find-libdeps"), "--check", "--root", root, path])


def test_a_venv_whose_interpreter_the_root_lacks(debian_root, debian12_venv, place):
    where = place(debian_root, debian12_venv)  # minbase: no Python at all
    r = check(debian_root, where)
    assert (r.returncode, r.stderr) == (
        1,
        f"find-libdeps: {where}: bin/python3 leads to /usr/bin/python3, which is not in this root\n",
    )


def test_a_python_3_11_venv_in_a_debian_13_root(trixie_root, debian12_venv, place):
    where = place(trixie_root, debian12_venv)
    r = check(trixie_root, where)
    assert (r.returncode, r.stderr) == (
        1,
        f"find-libdeps: {where}: made for Python 3.11 (pyvenv.cfg), but bin/python3 runs /usr/bin/python3.13, Python 3.13\n",
    )


def test_extension_modules_built_for_another_python(trixie_root, place):
    where = place(trixie_root)  # made by the root's own Python 3.13: it fits
    site = trixie_root / where.lstrip("/") / "lib/python3.13/site-packages"
    (own,) = glob.glob(f"{trixie_root}/usr/lib/python3.13/lib-dynload/_ssl.cpython-313-*.so")
    shutil.copy(own, site)
    assert check(trixie_root, where).returncode == 0
    # a module of Debian 12's Python 3.11 (the host's), as a build stage of another Python
    # would leave it; it needs no library beyond libc
    (foreign,) = glob.glob("/usr/lib/python3.11/lib-dynload/_json.cpython-311-*.so")
    shutil.copy(foreign, site)
    r = check(trixie_root, where)
    name = foreign.rsplit("/", 1)[1]
    assert (r.returncode, r.stderr) == (
        1,
        f"find-libdeps: {where}: lib/python3.13/site-packages/{name} built for cpython-311, but bin/python3 runs /usr/bin/python3.13, cpython-313\n",
    )


def test_the_venv_of_these_tests_fits_this_machine():
    # the contract alone: the sanitizer phase's venv holds an extension that loads only with
    # the sanitizer's runtime preloaded, which --check rightly reports
    with Root("/") as root:
        assert venvs.find([sys.prefix], root) == [sys.prefix]
        assert venvs.problems(sys.prefix, root) == []
