"""The README and docs/: every code block that holds commands or code is run by a test, which
takes its text from the document, or says why it is not; the README is a front door (about 150
lines, its Quick start two commands); and the blocks this file is named for are run."""

import http.server
import os
import re
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

from conftest import BIN, DOCS, REPO, doc_block, doc_blocks, run

CODE = {"sh", "console", "python", "Dockerfile", "dockerfile", "yaml"}  # a bare or text block is text


def test_every_command_block_is_run_or_says_why_not():
    for path, lang, body, mark in doc_blocks():
        where = f"{path.relative_to(REPO)}: block starting {body.splitlines()[0][:60]!r}"
        if lang not in CODE and not body.startswith("$ "):
            continue
        assert mark, f"{where}: no <!-- run by: TEST --> or <!-- not run: WHY --> before it"
        if mark.startswith("not run"):
            assert ": " in mark and len(mark.split(": ", 1)[1]) > 10, f"{where}: say why it is not run"
            continue
        assert mark.startswith("run by: "), f"{where}: unknown marker {mark!r}"
        file, _, name = mark.removeprefix("run by: ").partition("::")
        source = (REPO / file).read_text()
        assert f"def {name}(" in source, f"{where}: {file} has no test {name}"
        body_of_test = source.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
        assert f'doc_block("{file}::{name}")' in body_of_test, f"{where}: {name} does not take the block's text"


def test_docs_are_found():
    assert {p.name for p in DOCS} >= {"README.md", "find-libdeps.md", "wait-for-port.md", "apt-install.md", "images.md"}
    assert sum(1 for _ in doc_blocks()) > 20


def test_readme_is_a_front_door():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 180, "the reference goes to docs/"
    quick = text.split("## Quick start", 1)[1]
    first = next(b for p, _, b, _ in doc_blocks() if p.name == "README.md" and b in quick)
    assert len(first.splitlines()) == 2, "the Quick start block holds exactly two commands"
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#\s]+)", doc.read_text()):
            if not link.startswith(("http://", "https://")):
                assert (doc.parent / link).exists(), f"{doc.name}: a link to {link}, which is not there"


def test_quick_start_sets_up_and_runs_find_libdeps(tmp_path):
    # As written, but for two things: scripts/test installed the Debian packages already (the
    # apt-get part is left out), and the venv goes to a temporary directory, not /opt.
    setup = doc_block("tests/test_docs.py::test_quick_start_sets_up_and_runs_find_libdeps").splitlines()[0]
    assert setup.startswith("apt-get update && apt-get install -y ")
    command = setup.split(" && ", 2)[2].replace("/opt/snakepack", str(tmp_path / "snakepack"))
    checkout = tmp_path / "checkout"
    copied = run([REPO / "scripts/copy-checkout", checkout])
    assert copied.returncode == 0, copied.stderr
    python = shutil.which("python3", path="/usr/bin:/bin")
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env |= {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_CERT"))}
    r = run(["sh", "-c", command], cwd=checkout, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    packages = r.stdout.split()
    assert "libc6" in packages and {"libelf1", "libelf1t64"} & set(packages), packages


def test_readme_find_libdeps_example():
    command = doc_block("tests/test_docs.py::test_readme_find_libdeps_example").split("#")[0].split()
    tree = Path(command[-1])
    if not tree.is_dir():
        pytest.skip(f"{tree} is missing: Debian's python3-lxml is not installed (scripts/test installs it)")
    r = run([BIN / command[0], *command[1:]])
    assert r.returncode == 0, r.stderr
    assert {"libc6", "libxml2", "libxslt1.1"} <= set(r.stdout.split()), r.stdout


def test_find_libdeps_python_example(tmp_path):
    code = doc_block("tests/test_docs.py::test_find_libdeps_python_example")
    if not Path("/usr/lib/python3/dist-packages/lxml").is_dir():
        pytest.skip("Debian's python3-lxml is not installed (scripts/test installs it)")
    r = run([sys.executable, "-c", code])
    assert r.returncode == 0, r.stderr
    assert "'libxml2'" in r.stdout and "'libxslt1.1'" in r.stdout, r.stdout


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_readme_wait_for_port_example(tmp_path):
    # As written, on loopback, with the two ports taken by free ones (5432 may be a real server's).
    command = doc_block("tests/test_docs.py::test_readme_wait_for_port_example").split()
    db = socket.create_server(("localhost", 0))
    web = http.server.HTTPServer(("localhost", 0), _Health)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        text = " ".join(command).replace(":5432", f":{db.getsockname()[1]}").replace(":8000", f":{web.server_port}")
        start = tmp_path / "start-app"
        start.write_text("#!/bin/sh\necho started\n")
        start.chmod(0o755)
        words = text.split()
        r = run([BIN / words[0], *words[1:]], cwd=tmp_path)
    finally:
        web.shutdown()
        web.server_close()
        db.close()
    assert (r.returncode, r.stdout) == (0, "started\n"), r.stderr


def test_the_map_of_the_house_names_every_c_file():
    # docs/development.md's map is written by hand: a C file it does not name fails here
    text = (REPO / "docs/development.md").read_text()
    sources = sorted(p.relative_to(REPO / "ext") for p in (REPO / "ext").rglob("*.c"))
    assert len(sources) >= 19
    assert [str(p) for p in sources if p.name not in text] == []
