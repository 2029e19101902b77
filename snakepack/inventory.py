"""What an image holds, written into it at build time by each stage that installs something:

    /usr/share/snakepack/inventory/
        packages.txt         the Debian packages: NAME=VERSION ARCH, a line each, sorted
        python/ENV.txt       the distributions of each Python environment: NAME==VERSION (ENV:
                             the environment's path, its slashes as underscores)
        sbom.cdx.json        a CycloneDX 1.6 document of both: every Debian package with the
                             stage that brought it (property snakepack:stage), every Python
                             distribution with its environment (snakepack:environment)
        stages/N-NAME.status the dpkg status as stage NAME (the Nth) left it

    python -m snakepack.inventory [--root DIR] STAGE

records STAGE and writes the rest anew, for the image at / or the root DIR being assembled.
A package's stage is the first one whose saved status has it installed. The document is
deterministic, as find-libdeps --sbom's: sorted, timestamp from $SOURCE_DATE_EPOCH, serial
number a UUIDv5 of the content.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from . import dpkgstatus
from .confined import Root
from .errors import SnakepackError, UsageError
from .sbom import deb_purl, distributions, distro_of, serialized, tool_metadata

__all__ = ["record", "DIRECTORY"]

DIRECTORY = "usr/share/snakepack/inventory"
# where Python environments are looked for: their site directories
SITE_ROOTS = ("usr", "opt")


def _environments(root: Root) -> dict[str, str]:
    """The Python environments under ROOT: {their path in ROOT: their site directory}, both
    canonical paths of ROOT. A virtualenv is named by its top (the directory of pyvenv.cfg),
    another site directory by itself."""
    found = {}
    for top in SITE_ROOTS:
        for d, dirs, files in root.walk(top):
            names = dirs + files
            dirs[:] = [n for n in dirs if not n.endswith((".dist-info", ".egg-info")) and n != "__pycache__"]
            if os.path.basename(d) not in ("site-packages", "dist-packages"):
                continue
            dirs[:] = []
            if not any(n.endswith((".dist-info", ".egg-info")) for n in names):
                continue
            env = d
            venv = os.path.dirname(os.path.dirname(os.path.dirname(d)))  # VENV/lib/pythonX.Y/site-packages
            if root.isfile(os.path.join(venv, "pyvenv.cfg")):
                env = venv
            found[env] = d
    return dict(sorted(found.items()))


def _saved(root: Root, stages: str) -> list[str]:
    """The statuses saved in STAGES, N-NAME.status, in their order (other files ignored)."""
    names = [n for n in root.listdir(stages) if re.fullmatch(r"[0-9]+-[a-z][a-z0-9-]*\.status", n)]
    return sorted(names, key=lambda n: int(n.split("-", 1)[0]))


def record(root: str, stage: str) -> str:
    """Saves ROOT's dpkg status as stage STAGE and writes the inventory; returns its directory
    (as seen inside ROOT). Every path is resolved inside ROOT (snakepack/confined.py)."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", stage):
        raise UsageError(f"{stage!r}: a stage is a lower-case name (base, interpreter, app)")
    try:
        r = Root(root)
    except OSError as err:
        raise UsageError(f"--root {root}: {err.strerror}") from None
    with r:
        return _record(r, stage)


def _record(root: Root, stage: str) -> str:
    out = "/" + DIRECTORY
    stages = f"{out}/stages"
    root.makedirs(stages)
    status = "/var/lib/dpkg/status"
    text = root.read_text(status) if root.exists(status) else ""
    saved = _saved(root, stages)
    saved.append(f"{len(saved) + 1}-{stage}.status")
    root.write_text(f"{stages}/{saved[-1]}", text)
    brought: dict[tuple[str, str], str] = {}
    for name in saved:
        for key in dpkgstatus.installed(root.read_text(f"{stages}/{name}")):
            brought.setdefault(key, name.split("-", 1)[1].removesuffix(".status"))
    packages = dpkgstatus.installed(text)
    root.write_text(
        f"{out}/packages.txt", "".join(f"{n}={p['Version']} {a}\n" for (n, a), p in sorted(packages.items()))
    )
    python = f"{out}/python"
    if root.isdir(python):
        for name in root.listdir(python):
            root.unlink(f"{python}/{name}")
    root.makedirs(python)
    envs = {env: distributions(root, [site]) for env, site in _environments(root).items()}
    for env, dists in envs.items():
        lines = sorted({f"{d.name}=={d.version}\n" for d in dists})
        root.write_text(f"{python}/{env.strip('/').replace('/', '_')}.txt", "".join(lines))
    document = json.dumps(_document(root, packages, brought, envs), indent=1, sort_keys=True)
    root.write_text(f"{out}/sbom.cdx.json", document + "\n")
    return out


def _document(
    root: Root,
    packages: dict[tuple[str, str], dict[str, str]],
    brought: dict[tuple[str, str], str],
    envs: dict[str, list[Any]],
) -> dict[str, Any]:
    distro = distro_of(root)
    components: dict[str, dict[str, Any]] = {}
    for (name, arch), fields in packages.items():
        ref = deb_purl(name, fields["Version"], arch, distro)
        properties = [
            {"name": "snakepack:deb:source", "value": (fields.get("Source") or name).split()[0]},
            {"name": "snakepack:stage", "value": brought.get((name, arch), "unknown")},
        ]
        components[ref] = {
            "type": "library",
            "bom-ref": ref,
            "name": name,
            "version": fields["Version"],
            "purl": ref,
            "properties": properties,
        }
    for env, dists in envs.items():
        for d in dists:
            ref = f"{d.purl}?environment={env}"
            c: dict[str, Any] = {
                "type": "library",
                "bom-ref": ref,
                "name": d.name,
                "version": d.version,
                "purl": d.purl,
            }
            if d.licenses:
                c["licenses"] = d.licenses
            c["properties"] = [{"name": "snakepack:environment", "value": env}]
            components[ref] = c
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": tool_metadata(),
        "components": [components[r] for r in sorted(components)],
    }
    return serialized(doc, "snakepack-inventory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snakepack.inventory", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", help="the stage that installed what is new: base, interpreter, app ...")
    parser.add_argument("--root", default="/", help="the root filesystem of the image (default /)")
    args = parser.parse_args(argv)
    try:
        record(args.root, args.stage)
    except (SnakepackError, OSError) as e:
        print(f"inventory: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
