"""The project's own tools, behind the thin commands of scripts/: the image matrix, image
builds, the bake file, publishing, the locks, the benchmarks and the generated sources. Run
from a checkout; checked by mypy --strict and ruff like the package."""

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout


def arguments(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of command PROG, its help the module's docstring DOC."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
