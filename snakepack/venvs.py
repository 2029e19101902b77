"""The builder -> target contract of a virtual environment: a venv packed in a build stage works
in the target only if the interpreter its bin/python3 leads to is there, is the Python minor
version and ABI (free-threaded or not) the venv was made for, and its extension modules are
built for that ABI. find-libdeps --check says so, one line each, reading files only (nothing
runs), inside --root like everything else."""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cli.py)
if TYPE_CHECKING:
    from .confined import Root

_INTERPRETER = re.compile(r"python(\d+)\.(\d+)(t?)")
_EXTENSION = re.compile(r"\.cpython-(\d)(\d+)(t?)-[^.]+\.so$")
_PRUNE = {"__pycache__", "node_modules", ".git"}


def _in_root(root: Root, path: str) -> str | None:
    """PATH (absolute, as seen inside ROOT) with every symlink followed inside ROOT; None when
    something on the way is missing."""
    try:
        found = root.resolve(path)
    except OSError:
        return None
    return found if root.lexists(found) else None


def _config(root: Root, path: str) -> dict[str, str]:
    config = {}
    for line in root.read_text(path).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip().lower()] = value.strip()
    return config


def find(paths: list[str], root: Root) -> list[str]:
    """The venvs (directories holding pyvenv.cfg) at, under or above PATHS, all as seen inside
    ROOT (PATHS absolute)."""
    found: list[str] = []
    for path in paths:
        up = _in_root(root, path)
        if up is None:
            continue
        top = up
        while True:  # a path inside a venv (its site-packages)
            if root.isfile(os.path.join(up, "pyvenv.cfg")):
                found.append(up)
                break
            if up == "/":
                break
            up = os.path.dirname(up)
        for d, dirs, files in root.walk(top):
            if "pyvenv.cfg" in files:
                found.append(d)
                dirs[:] = []  # what is inside is problems()' business
            else:
                dirs[:] = [x for x in dirs if x not in _PRUNE]
    return list(dict.fromkeys(found))


def problems(venv: str, root: Root) -> list[str]:
    """Why the venv at VENV (as seen inside ROOT) would not work with ROOT's Python, one line
    each; empty when it would."""
    config = _config(root, os.path.join(venv, "pyvenv.cfg"))
    made = re.match(r"(\d+)\.(\d+)", config.get("version_info") or config.get("version") or "")
    lib = os.path.join(venv, "lib")
    libs = [d for d in sorted(root.listdir(lib)) if _INTERPRETER.fullmatch(d)] if root.isdir(lib) else []
    for name in ("python3", "python"):
        if root.lexists(f"{venv}/bin/{name}"):
            launcher = f"{venv}/bin/{name}"
            break
    else:
        return [f"{venv}: a venv (pyvenv.cfg) without bin/python3"]
    runs = _in_root(root, launcher)
    if runs is None or not root.isfile(runs):
        target = root.readlink(launcher) if root.islink(launcher) else launcher
        return [f"{venv}: bin/{name} leads to {target}, which is not in this root"]
    # the interpreter's version and ABI: its file's name, else (a copy) what the venv says
    m = _INTERPRETER.fullmatch(os.path.basename(runs)) or _INTERPRETER.fullmatch(
        os.path.basename(config.get("executable", ""))
    )
    if m is None:
        return []
    major, minor, free = m.groups()
    out = []
    want = [f"python{major}.{minor}{free}"]
    if made and (made.group(1), made.group(2)) != (major, minor):
        out.append(
            f"{venv}: made for Python {made.group(1)}.{made.group(2)} (pyvenv.cfg), but bin/{name} runs {runs}, Python {major}.{minor}"
        )
    elif libs and libs != want:
        out.append(
            f"{venv}: its packages are in lib/{', lib/'.join(libs)}, but bin/{name} runs {runs}, which reads lib/{want[0]}"
        )
    tag = f"cpython-{major}{minor}{free}"
    wrong: dict[str, list[str]] = {}
    for lib in libs:
        top = root.resolve(os.path.join(venv, "lib", lib))
        for d, dirs, files in root.walk(top):
            dirs[:] = [x for x in dirs if x not in _PRUNE]
            for f in files:
                e = _EXTENSION.search(f)
                if e and f"cpython-{e.group(1)}{e.group(2)}{e.group(3)}" != tag:
                    wrong.setdefault(f"cpython-{e.group(1)}{e.group(2)}{e.group(3)}", []).append(
                        os.path.join("lib", lib, os.path.relpath(os.path.join(d, f), top))
                    )
    for built, modules in sorted(wrong.items()):
        more = f" and {len(modules) - 1} more" if len(modules) > 1 else ""
        out.append(f"{venv}: {sorted(modules)[0]}{more} built for {built}, but bin/{name} runs {runs}, {tag}")
    return out
