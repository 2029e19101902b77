"""What moved between two builds of an image, from the inventories they carry
(/usr/share/snakepack/inventory, snakepack/inventory.py): each Debian package and each Python
distribution that came, went or changed version, old -> new.

    scripts/build-images --diff OLD NEW     e.g. snakepack/python:3.13 and a rebuild of it
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

INVENTORY = "usr/share/snakepack/inventory"


@contextlib.contextmanager
def mounted(image: str) -> Iterator[str]:
    """The root filesystem of IMAGE (local storage), through a buildah working container."""
    ctr = subprocess.run(["buildah", "from", "--pull-never", image], capture_output=True, text=True)
    if ctr.returncode != 0:
        raise SystemExit(
            f"build-images: {image}: {ctr.stderr.strip().splitlines()[-1] if ctr.stderr.strip() else 'no such image'}"
        )
    name = ctr.stdout.strip()
    try:
        yield subprocess.run(["buildah", "mount", name], capture_output=True, text=True, check=True).stdout.strip()
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)


def held(root: str) -> dict[str, dict[str, str]]:
    """{"debian" or "python ENV": {name: version}} of the inventory in ROOT."""
    top = os.path.join(root, INVENTORY)
    if not os.path.isdir(top):
        return {}
    found: dict[str, dict[str, str]] = {"debian": {}}
    with open(os.path.join(top, "packages.txt"), encoding="utf-8") as f:
        for line in f:
            name_version, arch = line.split()
            name, version = name_version.split("=", 1)
            found["debian"][f"{name}:{arch}"] = version
    python = os.path.join(top, "python")
    for n in sorted(os.listdir(python)) if os.path.isdir(python) else []:
        with open(os.path.join(python, n), encoding="utf-8") as f:
            found[f"python /{n.removesuffix('.txt').replace('_', '/')}"] = dict(
                line.strip().split("==", 1) for line in f if "==" in line
            )
    return found


def changes(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    """One line per change: 'WHERE: NAME OLD -> NEW', '+ NAME NEW' or '- NAME OLD'."""
    lines = []
    for where in sorted(set(old) | set(new)):
        a, b = old.get(where, {}), new.get(where, {})
        for name in sorted(set(a) | set(b)):
            if name not in a:
                lines.append(f"{where}: + {name} {b[name]}")
            elif name not in b:
                lines.append(f"{where}: - {name} {a[name]}")
            elif a[name] != b[name]:
                lines.append(f"{where}: {name} {a[name]} -> {b[name]}")
    return lines


def main(old_image: str, new_image: str) -> int:
    with mounted(old_image) as old_root, mounted(new_image) as new_root:
        old, new = held(old_root), held(new_root)
    for image, inventory in ((old_image, old), (new_image, new)):
        if not inventory:
            print(f"build-images: {image} carries no inventory ({INVENTORY})")
            return 1
    print("\n".join(changes(old, new)) or "no package moved")
    return 0
