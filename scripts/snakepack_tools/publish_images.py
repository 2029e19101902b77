"""Publishes images pushed by digest, one per platform (the workflow's build jobs): merges the
platforms of each image into one manifest list, tags it immutably and with its floating tag,
and signs it with cosign (keyless).

    scripts/publish-images DIGESTS_DIR REPOSITORY DATE [--dry-run]

DIGESTS_DIR holds one file per platform, lines "TARGET DIGEST" (bake's target names). Tags:
    floating   the image's name: 3.13, build-3.13, 3.13-pillow, all, base-trixie, ipython;
               and the aliases of the matrix (base, build, latest)
    immutable  PYTHONVERSION-RELEASE-DATE for a Python's images (3.13.5-trixie-20261128,
               build-3.13.5-trixie-20261128, ...), NAME-RELEASE-DATE for the others
               (base-trixie-20261128, all-forky-20261128); never moved once pushed
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import arguments
from .matrix import Matrix


def sh(argv: list[str], dry: bool, capture: bool = False) -> str:
    print("+", " ".join(argv), flush=True)
    if dry:
        return ""
    return subprocess.run(argv, check=True, capture_output=capture, text=True).stdout


def python_version(ref: str, version: str, dry: bool) -> str:
    """The full version of the Python in image REF (X.Y.Z), asked of the image itself."""
    out = sh(
        [
            "docker",
            "run",
            "--rm",
            "--platform",
            "linux/amd64",
            "--entrypoint",
            f"python{version}",
            ref,
            "-c",
            "import platform; print(platform.python_version())",
        ],
        dry,
        capture=True,
    )
    return out.strip() or f"{version}.x"


def main(argv: list[str]) -> int:
    parser = arguments("publish-images", __doc__)
    parser.add_argument("digests_dir", type=Path, metavar="DIGESTS_DIR")
    parser.add_argument("repository", metavar="REPOSITORY")
    parser.add_argument("date", metavar="DATE")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    args = parser.parse_args(argv)
    digests_dir, repository, date, dry = args.digests_dir, args.repository, args.date, args.dry_run
    m = Matrix()
    by_target: dict[str, list[str]] = {}
    for f in sorted(digests_dir.glob("*.txt")):
        for line in f.read_text().splitlines():
            target, digest = line.split()
            by_target.setdefault(target, []).append(digest)
    aliases: dict[str, list[str]] = {}
    for alias, name in m.aliases().items():
        aliases.setdefault(name, []).append(alias)
    for image in m.images():
        digests = by_target.get(image.name.replace(".", "-"))
        if not digests:
            print(f"publish-images: {image.name}: not built, not published", file=sys.stderr)
            continue
        sources = [f"{repository}@{d}" for d in digests]
        if image.python and image.role != "app":
            # 3.13 -> 3.13.5, 3.13-source -> 3.13.15-source, in every image of that Python
            full = (
                python_version(sources[0], image.python.version, dry) + image.python.name[len(image.python.version) :]
            )
            stem = image.name.replace(image.python.name, full, 1)
        else:
            stem = image.name
        immutable = f"{stem}-{date}" if image.release in stem else f"{stem}-{image.release}-{date}"
        tags = [image.name, immutable, *aliases.get(image.name, [])]
        sh(
            [
                "docker",
                "buildx",
                "imagetools",
                "create",
                *(a for t in tags for a in ("-t", f"{repository}:{t}")),
                *sources,
            ],
            dry,
        )
        digest = (
            sh(
                [
                    "docker",
                    "buildx",
                    "imagetools",
                    "inspect",
                    f"{repository}:{immutable}",
                    "--format",
                    "{{json .Manifest.Digest}}",
                ],
                dry,
                capture=True,
            )
            .strip()
            .strip('"')
        )
        sh(["cosign", "sign", "--yes", f"{repository}@{digest or 'sha256:DIGEST'}"], dry)
    return 0
