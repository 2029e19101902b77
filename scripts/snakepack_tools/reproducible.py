"""Whether images rebuild bit for bit. Each IMAGE of the family is built twice without the layer
cache, as scripts/build-images builds it (the commit's time as SOURCE_DATE_EPOCH and as every
timestamp), and the two builds are compared: the same image ID (the digest of a configuration
that names every layer's digest) prints "identical"; otherwise the files that differ in the
first layer that differs, or the configuration's fields when every layer is the same. Exit
status 1 when any image differs.

    scripts/check-reproducible [--ci] IMAGE...    e.g. base-trixie 3.13, after what they are built on

The images each IMAGE is built on are used as they are in local storage; the two builds are
tagged IMAGE-rebuild-1 and IMAGE-rebuild-2 and removed once compared (kept with --keep).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import arguments
from .build_images import Engine, build, pip_settings, timestamps
from .matrix import Matrix

PROG = "check-reproducible"
SHOWN = 20  # differing files printed per image


def entry(path: str) -> tuple[object, ...]:
    """What a tar layer records of PATH: type and mode, owner, modification time, and the
    content's digest or the link's target."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        what: object = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            what = hashlib.file_digest(f, "sha256").hexdigest()
    else:
        what = st.st_rdev
    # a whiteout (character device 0/0, a deletion) keeps the time it was made on disk, which
    # its layer's archive does not carry
    whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    return (stat.filemode(st.st_mode), st.st_uid, st.st_gid, 0 if whiteout else st.st_mtime_ns, what)


def tree(root: str) -> dict[str, tuple[object, ...]]:
    """Every path under ROOT (relative) and its entry()."""
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            found[os.path.relpath(path, root)] = entry(path)
    return found


def config(engine: Engine, ref: str) -> dict[str, Any]:
    r = subprocess.run([engine.cli, "image", "inspect", ref], capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(r.stdout)[0]
    return found


def layers(image: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(digest, directory of its files, the step that wrote it) of each layer of IMAGE (its
    inspection), bottom first: podman's overlay storage keeps each layer's files apart, with
    what a layer deletes as a whiteout (a character device)."""
    data = image["GraphDriver"]["Data"]
    dirs = [*reversed(data["LowerDir"].split(":")), data["UpperDir"]] if data.get("LowerDir") else [data["UpperDir"]]
    steps = [h.get("created_by", "") for h in image["History"] if not h.get("empty_layer")]
    return list(zip(image["RootFS"]["Layers"], dirs, steps, strict=True))


def differing_files(a: dict[str, tuple[object, ...]], b: dict[str, tuple[object, ...]]) -> list[str]:
    """One line per path whose entry differs between the trees A and B, sorted."""
    lines = []
    for path in sorted(set(a) | set(b)):
        if path not in a or path not in b:
            lines.append(f"/{path}: only in the {'second' if path not in a else 'first'} build")
        elif a[path] != b[path]:
            fields = ("mode", "owner", "group", "mtime", "content")
            changed = [f for f, x, y in zip(fields, a[path], b[path], strict=True) if x != y]
            lines.append(f"/{path}: {', '.join(changed)}")
    return lines


def differences(engine: Engine, first: str, second: str) -> list[str]:
    """What differs between images FIRST and SECOND: the files of the first layer that differs
    (a later layer may delete a file, and the image would still differ), or else the
    configuration's fields."""
    a, b = config(engine, first), config(engine, second)
    for n, (x, y) in enumerate(zip(layers(a), layers(b), strict=False), 1):
        if x[0] != y[0]:
            step = " ".join(x[2].split())
            where = f"layer {n} of {len(a['RootFS']['Layers'])} ({step[:100]}{'...' if len(step) > 100 else ''})"
            return [f"{where}: {line}" for line in differing_files(tree(x[1]), tree(y[1]))] or [f"{where}: its archive"]
    keys = ("Created", "Config", "RootFS", "History", "Architecture", "Os")
    return [f"configuration: {k}" for k in keys if a.get(k) != b.get(k)]


def main(argv: list[str]) -> int:
    parser = arguments(PROG, __doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="an image of images/versions.json")
    parser.add_argument("--keep", action="store_true", help="keep the two builds of each image")
    parser.add_argument(
        "--ci", action="store_true", help="the images as build-images --ci builds them (CPython without PGO and LTO)"
    )
    args = parser.parse_args(argv)
    m = Matrix()
    family = {i.name: i for i in m.images(ci=args.ci)}
    unknown = [name for name in args.images if name not in family]
    if unknown:
        parser.error(f"not an image of {'the CI selection' if args.ci else 'the family'}: {', '.join(unknown)}")
    engine = Engine(None)
    if engine.name == "docker":
        sys.exit(f"{PROG}: compares the layers of podman's local storage; docker keeps its own")
    verdicts = []
    with tempfile.NamedTemporaryFile() as secret:
        common = [*pip_settings(Path(secret.name)), *timestamps(engine), "--no-cache"]
        for name in args.images:
            refs = [f"{m.registry}:{name}-rebuild-{n}" for n in (1, 2)]
            for ref in refs:
                build(engine, m, family[name], common, ref=ref)
            ids = [config(engine, ref)["Id"] for ref in refs]
            if ids[0] == ids[1]:
                verdicts.append(f"{name}: identical, {ids[0]}")
            else:
                lines = differences(engine, *refs)
                verdicts.append(f"{name}: differs in {len(lines)} places:")
                verdicts += [f"  {line}" for line in lines[:SHOWN]]
            if not args.keep:
                subprocess.run([engine.cli, "rmi", *refs], capture_output=True)
    # after the builds' output, the verdicts
    print("\n".join(f"{PROG}: {line}" for line in verdicts))
    return 1 if any(": differs" in line for line in verdicts) else 0
