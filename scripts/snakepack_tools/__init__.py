"""The project's own tools, behind the thin commands of scripts/: the image matrix, image
builds, the bake file, publishing, the locks, the benchmarks and the generated sources. Run
from a checkout; checked by mypy --strict and ruff like the package."""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout


def arguments(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of command PROG, its help the module's docstring DOC."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def generated(prog: str, path: Path, text: str, check: bool, source: str) -> bool:
    """Writes TEXT, which command PROG makes from SOURCE, to PATH; with CHECK writes nothing
    and says in one line when PATH differs. False when it does."""
    if not check:
        path.write_text(text)
        return True
    if path.exists() and path.read_text() == text:
        return True
    print(f"{prog}: {path.relative_to(REPO)} is not what {source} makes: run scripts/{prog}", file=sys.stderr)
    return False


def is_elf(path: str) -> bool:
    """Whether PATH is a regular file (not a symlink) starting with the ELF magic."""
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_files(tree: str) -> list[str]:
    """The ELF files under TREE, sorted."""
    return sorted(p for d, _, names in os.walk(tree) for p in (os.path.join(d, n) for n in names) if is_elf(p))
