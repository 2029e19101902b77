"""Debian version comparison (snakepack/debversion.py), judged by the real dpkg --compare-versions
on the versions of the machine's installed packages and on the cases deb-version(7) singles out
(~ before everything, even the end; letters before other characters; digit runs by value)."""

import random
import shutil
import subprocess

import pytest
from snakepack.debversion import compare, satisfies, valid

TRICKY = [
    "1.0~rc1", "1.0~rc1~git", "1.0", "1.0-0", "1.0-1", "1.0a", "1.0+b1", "1.0.0", "01.0", "1.0~", "1.0~~",
    "1:0.1", "0:1.0", "2.36-9+deb12u4", "2.36-9+deb12u10", "6.5~", "6.4+20240113-1", "10~~", "1.2.3.4", "1.0-1~bpo1",
]  # fmt: skip


def installed_versions() -> list[str]:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}\n"], capture_output=True, text=True, check=True)
    return sorted(set(out.stdout.split()))


def dpkg_says(a: str, relation: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, relation, b]).returncode == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
def test_compare_orders_as_dpkg_does():
    versions = installed_versions()
    assert all(valid(v) for v in versions + TRICKY)
    rng = random.Random(28)
    pairs = [(a, b) for a in TRICKY for b in TRICKY] + [
        (rng.choice(versions), rng.choice(versions)) for _ in range(200)
    ]
    wrong = []
    for a, b in pairs:
        c = compare(a, b)
        relation = "lt" if c < 0 else "eq" if c == 0 else "gt"
        if not dpkg_says(a, relation, b):
            wrong.append(f"{a} {relation} {b}")
    assert wrong == []


def test_satisfies_reads_each_relation():
    assert satisfies("2.36-9", ">=", "2.34")
    assert not satisfies("2.36-9", ">=", "2.38")
    assert satisfies("2.36-9", ">>", "2.36")  # a revision sorts after none
    assert satisfies("6.4+20240113-1", "<<", "6.5~")
    assert satisfies("1:1.2.13", ">=", "1:1.2.3.4")
    assert satisfies("1.0", "=", "1.0-0")
    assert satisfies("1.0", "<=", "1.0")
    assert not satisfies("1.0~rc1", ">=", "1.0")


def test_valid_refuses_what_is_no_version():
    for text in ("", "-1", "1.0-", "a b", "1.0@x", "(>= 1)"):
        assert not valid(text), text
