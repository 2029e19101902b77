"""Debian version numbers and relations, compared as dpkg compares them (deb-version(7)):
epoch, then upstream version, then revision, each string compared part by part, where ~ sorts
before everything (even the end of the string), letters before other characters, and digit runs
by their value."""

from __future__ import annotations

import re

__all__ = ["compare", "sort_key", "satisfies", "valid", "RELATIONS"]

_VALID = re.compile(r"(?:\d+:)?[A-Za-z0-9][A-Za-z0-9.+~:-]*")
RELATIONS = ("<<", "<=", "=", ">=", ">>")


def valid(version: str) -> bool:
    """Whether VERSION reads as a Debian version: [epoch:]upstream[-revision] in the characters
    dpkg allows."""
    return bool(_VALID.fullmatch(version)) and not version.endswith("-")


def _order(c: str) -> int:
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return -1 if c == "~" else ord(c) + 256


def _part_key(part: str) -> tuple[object, ...]:
    """A key that sorts as dpkg's verrevcmp orders PART: runs of non-digits (each character by
    _order, then 0 for the end of the run, which sorts after ~ and before everything else) and
    runs of digits (by value) alternately, and a last empty run, so that a part that goes on
    after another ends compares with it as dpkg compares it with nothing."""
    key: list[object] = []
    for text, digits in re.findall(r"(\D*)(\d*)", part)[:-1] or [("", "")]:
        key.append(tuple(map(_order, text)) + (0,))
        key.append(int(digits or 0))
    key.append((0,))
    return tuple(key)


_KEYS: dict[str, tuple[object, ...]] = {}


def sort_key(version: str) -> tuple[object, ...]:
    """A key that sorts versions as dpkg does: (epoch, upstream, revision)."""
    key = _KEYS.get(version)
    if key is None:
        epoch, colon, rest = version.partition(":")
        if not colon:
            epoch, rest = "0", version
        upstream, dash, revision = rest.rpartition("-")
        if not dash:
            upstream, revision = rest, ""
        key = _KEYS[version] = (int(epoch or 0), _part_key(upstream), _part_key(revision))
    return key


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as version A sorts before, equal to or after B."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def satisfies(version: str, relation: str, reference: str) -> bool:
    """Whether VERSION stands in RELATION (<<, <=, =, >=, >>) to REFERENCE."""
    c = compare(version, reference)
    return {"<<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">>": c > 0}[relation]
