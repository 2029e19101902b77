"""Prints its argument, HTML-escaped by MarkupSafe's C speedups."""

import sys

from markupsafe import _speedups, escape


def main() -> None:
    print(escape(sys.argv[1] if len(sys.argv) > 1 else "<ok>"), _speedups.__name__)
