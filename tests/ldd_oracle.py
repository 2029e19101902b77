"""The reference answer for find-libdeps: what the real loader loads (ldd) mapped to packages by
exact path with dpkg-query. It runs the loader on the files, so it is for tests and benchmarks
on trusted trees only."""

from __future__ import annotations

import os
import subprocess

from conftest import clean_env
from snakepack_tools import elf_files

# The sanitizer run preloads AddressSanitizer into the tests: the loader oracle must not see it.
ENV = clean_env()


def loaded_paths(files: list[str], chroot: str | None = None) -> set[str]:
    """Paths of the objects ldd reports for FILES (inside CHROOT when given)."""
    paths = set()
    for f in files:
        cmd = ["ldd", f] if chroot is None else ["chroot", chroot, "ldd", f]
        out = subprocess.run(cmd, capture_output=True, text=True, env=ENV).stdout
        for line in out.splitlines():
            words = line.split()
            if "=>" in words:
                i = words.index("=>")
                if i + 1 < len(words) and words[i + 1].startswith("/"):
                    paths.add(words[i + 1])
            elif words and words[0].startswith("/"):
                paths.add(words[0])
    return paths


def owners(path: str, chroot: str | None = None) -> set[str]:
    """Packages dpkg-query -S names for PATH exactly, trying the other usrmerge spelling and the
    real path, as dpkg records paths as shipped."""
    root = chroot or "/"
    twin = path[4:] if path.startswith("/usr/") else "/usr" + path
    real = os.path.realpath(os.path.join(root, path.lstrip("/")))[len(root.rstrip("/")) :]
    for candidate in (path, twin, real):
        cmd = ["dpkg-query", "-S", candidate]
        if chroot:
            cmd = ["chroot", chroot, *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        if r.returncode == 0:
            names = set()
            for line in r.stdout.splitlines():
                if line.startswith("diversion "):
                    continue
                pkgs, _, p = line.partition(": ")
                if p == candidate:
                    names.update(x.strip().split(":")[0] for x in pkgs.split(","))
            if names:
                return names
    return set()


def packages(tree: str, chroot: str | None = None) -> set[str]:
    """The owners of everything the ELF files under TREE load, wherever it lies (a library
    inside TREE that no package owns adds nothing)."""
    host_tree = os.path.join(chroot, tree.lstrip("/")) if chroot else tree
    files = elf_files(host_tree)
    if chroot:
        files = ["/" + os.path.relpath(f, chroot) for f in files]
    result = set()
    for p in loaded_paths(files, chroot):
        result |= owners(p, chroot)
    return result
