"""The image family as images/versions.json describes it: every image, the Dockerfile and target
it is built from, its build arguments and the images it is built on, in an order that builds
each after those it needs. scripts/build-images, scripts/gen-bake, tests/test_images.py and the
table of docs/images.md (checked by tests/test_images.py) read the family from here, and nothing else
lists versions.

    scripts/image-matrix [--ci]    prints the images, one per line, in build order
    scripts/image-matrix --table  prints the table of Pythons of docs/images.md
    scripts/image-matrix --table --sizes   ... with the sizes of the images built here
    scripts/image-matrix [--ci] --free-threaded   the build image and interpreter of its
                                   free-threaded Python: "build-3.13t python3.13t"
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO, arguments

VERSIONS = REPO / "images" / "versions.json"


@dataclass(frozen=True)
class Python:
    name: str  # the tag stem: 3.13, 3.13-source, 3.13t, 3.13-forky
    version: str  # X.Y
    release: str
    source: str  # "debian" (the release's package) or "tarball" (built from upstream)
    free_threaded: bool = False  # built with --disable-gil (a tarball)
    full_version: str = ""
    url: str = ""
    sha256: str = ""
    sha256_from: str = ""

    @property
    def from_source(self) -> bool:
        return self.source == "tarball"

    @property
    def abi(self) -> str:
        """X.Y, or X.Yt for a free-threaded build: the interpreter is pythonABI, its standard
        library lib/pythonABI, its shared library libpythonABI.so (the Dockerfiles' PYTHON)."""
        return self.version + ("t" if self.free_threaded else "")


@dataclass
class Image:
    name: str  # the tag: registry:name
    role: str  # base, build, runtime, build-pillow, pillow, min, all, all-pillow, app
    dockerfile: str
    target: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    # The images it is built FROM, by the name its Dockerfile gives them (ARG BASE=base,
    # BUILD=build, RUNTIME=runtime): build-images passes each as a build argument holding the
    # image's reference, docker-bake.hcl as a named context ("target:...").
    needs: dict[str, str] = field(default_factory=dict)
    python: Python | None = None
    release: str = ""
    description: str = ""


class Matrix:
    def __init__(self, path: Path = VERSIONS):
        with open(path) as f:
            self.data = json.load(f)
        self.registry: str = self.data["registry"]
        self.platforms: list[str] = self.data["platforms"]
        self.releases: dict[str, dict[str, Any]] = self.data["releases"]
        self.pythons = [
            Python(**{k: v for k, v in p.items() if k in Python.__dataclass_fields__}) for p in self.data["pythons"]
        ]
        self.by_name = {p.name: p for p in self.pythons}
        self.default = self.by_name[self.data["default"]]

    # ---- the images ------------------------------------------------------------------------

    def apt_conf(self, release: str) -> str:
        """apt configuration a build on RELEASE needs (never left in an image)."""
        return str(self.releases[release].get("build_apt_conf", ""))

    def gdbm_package(self, p: Python) -> str:
        """The Debian package that holds dbm.gnu for P, a Debian-packaged Python."""
        return str(self.releases[p.release].get("gdbm_package", f"python{p.version}-gdbm"))

    def base(self, release: str) -> Image:
        return Image(
            f"base-{release}",
            "base",
            "images/base/Dockerfile",
            None,
            {"RELEASE": release, "APT_BUILD_CONF": self.apt_conf(release)},
            {},
            None,
            release,
            f"Debian {release} slim, UTF-8, tzdata, CA certificates",
        )

    def python_images(self, p: Python, fast_cpython: bool = False) -> list[Image]:
        args = {"RELEASE": p.release, "PYTHON": p.abi, "APT_BUILD_CONF": self.apt_conf(p.release)}
        base = {"base": f"base-{p.release}"}
        if p.from_source:
            dockerfile = "images/source/Dockerfile"
            args |= {
                "PYTHON_VERSION": p.full_version,
                "PYTHON_URL": p.url,
                "PYTHON_SHA256": p.sha256,
                "PGO": "0" if fast_cpython else "1",
                "LTO": "0" if fast_cpython else "1",
            }
            build = Image(
                f"build-{p.name}",
                "build",
                dockerfile,
                "build",
                dict(args),
                base,
                p,
                p.release,
                f"Build stage: CPython {p.full_version}{p.free_threaded * ' free-threaded'} from source on Debian {p.release}, compilers, uv, snakepack",
            )
            runtime = Image(
                p.name,
                "runtime",
                dockerfile,
                "runtime",
                dict(args),
                base,
                p,
                p.release,
                f"Target stage: CPython {p.full_version}{p.free_threaded * ' free-threaded'} from source on Debian {p.release}, snakepack's commands",
            )
        else:
            args["GDBM"] = self.gdbm_package(p)
            build = Image(
                f"build-{p.name}",
                "build",
                "images/build/Dockerfile",
                None,
                dict(args),
                base,
                p,
                p.release,
                f"Build stage: Python {p.version} of Debian {p.release}, compilers, headers, uv, snakepack",
            )
            runtime = Image(
                p.name,
                "runtime",
                "images/runtime/Dockerfile",
                None,
                dict(args),
                base | {"build": build.name},
                p,
                p.release,
                f"Target stage: Python {p.version} of Debian {p.release}, snakepack's commands",
            )
        return [build, runtime]

    def pillow_images(self, p: Python) -> list[Image]:
        args = {"PYTHON": p.abi, "APT_BUILD_CONF": self.apt_conf(p.release)}
        return [
            Image(
                f"build-{p.name}-pillow",
                "build-pillow",
                "images/pillow/Dockerfile",
                "build-pillow",
                dict(args),
                {"build": f"build-{p.name}"},
                p,
                p.release,
                "Build stage with pillow's headers",
            ),
            Image(
                f"{p.name}-pillow",
                "pillow",
                "images/pillow/Dockerfile",
                None,
                dict(args),
                {"build": f"build-{p.name}", "runtime": p.name},
                p,
                p.release,
                "Target stage with the libraries pillow needs",
            ),
        ]

    def min_image(self, p: Python) -> Image:
        """P's compact target stage (a Debian-packaged Python): assembled in its build image by
        apt-install --root, no shell, no apt, no dpkg binary."""
        args = {"PYTHON": p.abi, "GDBM": self.gdbm_package(p), "APT_BUILD_CONF": self.apt_conf(p.release)}
        return Image(
            f"{p.name}-min",
            "min",
            "images/min/Dockerfile",
            None,
            args,
            {"build": f"build-{p.name}"},
            p,
            p.release,
            f"Compact target stage: Python {p.version} of Debian {p.release}, no shell, no apt; find-libdeps, wait-for-port",
        )

    def all_images(self) -> list[Image]:
        spec = self.data["all"]
        pythons = [self.by_name[n] for n in spec["pythons"]]
        release = spec["release"]
        versions = " ".join(p.version for p in pythons)
        args = {
            "RELEASE": release,
            "PYTHONS": versions,
            "LEFT_OUT": self.all_left_out(),
            "APT_BUILD_CONF": self.apt_conf(release),
        }
        return [
            Image(
                "all",
                "all",
                "images/all/Dockerfile",
                None,
                dict(args),
                {"base": f"base-{release}"},
                None,
                release,
                f"Build stage with Pythons {versions} side by side, tox, nox, uv",
            ),
            Image(
                "all-pillow",
                "all-pillow",
                "images/pillow/Dockerfile",
                "build-pillow",
                {"PYTHON": pythons[-1].version, "APT_BUILD_CONF": self.apt_conf(release)},
                {"build": "all"},
                None,
                release,
                "The all image with pillow's headers",
            ),
        ]

    def all_left_out(self) -> str:
        """One line per Python of the matrix that the all image does not hold, saying why."""
        spec = self.data["all"]
        held = {self.by_name[n].version for n in spec["pythons"]}
        lines = []
        for p in self.pythons:
            if p.version not in held and p.name == p.version:
                lines.append(
                    f"{p.version}: built for Debian {p.release}, not {spec['release']} ({spec['left_out_why']})"
                )
        lines += [f"{v}: {why}" for v, why in self.data.get("left_out", {}).items()]
        return "; ".join(lines)

    def app_images(self) -> list[Image]:
        out = []
        for name, app in self.data["apps"].items():
            p = self.by_name[app["python"]]
            args = {
                "PYTHON": p.abi,
                "APP": app["packages"],
                "LOCK": f"app-{name}",
                "COMMAND": app["command"],
                "APT_BUILD_CONF": self.apt_conf(p.release),
            }
            out.append(
                Image(
                    name,
                    "app",
                    "images/app/Dockerfile",
                    None,
                    args,
                    {"build": f"build-{p.name}", "runtime": p.name},
                    p,
                    p.release,
                    f"{app['packages']}, packed with snakepack",
                )
            )
        return out

    def foreign_ci(self) -> list[Image]:
        """What CI builds for a platform it emulates: the default Python's base, build and
        runtime images (a Debian-packaged Python: no CPython compile under emulation)."""
        p = self.default
        return [self.base(p.release)] + self.python_images(p)

    def images(self, ci: bool = False, foreign: bool = False) -> list[Image]:
        """Every image of the family (or the CI subset, for the host or an emulated platform),
        in build order."""
        if ci and foreign:
            return self.foreign_ci()
        sel = self.data["ci"] if ci else None
        pythons = [self.by_name[n] for n in sel["pythons"]] if sel else self.pythons
        pillow = sel["pillow"] if sel else self.data["pillow"]
        fast = bool(sel and sel.get("fast_cpython"))
        found: list[Image] = []
        releases = sorted(
            {p.release for p in pythons} | ({self.data["all"]["release"]} if not sel or sel["all"] else set())
        )
        found += [self.base(r) for r in releases]
        for p in pythons:
            found += self.python_images(p, fast)
        for name in pillow:
            found += self.pillow_images(self.by_name[name])
        for name in sel["min"] if sel else self.data["min"]["pythons"]:
            found.append(self.min_image(self.by_name[name]))
        if not sel or sel["all"]:
            found += self.all_images()[: 1 if sel else None]  # all-pillow: the whole family only
        apps = set(sel["apps"]) if sel else None
        found += [a for a in self.app_images() if apps is None or a.name in apps]
        return found

    def aliases(self) -> dict[str, str]:
        """Floating names and the image each points at."""
        d = self.default.name
        return {"base": f"base-{self.default.release}", "build": f"build-{d}", "latest": d}

    def reachable(self, p: Python) -> bool:
        """Whether the sources of P can be fetched here (a Debian package always can)."""
        if not p.from_source:
            return True
        import urllib.request

        try:
            with urllib.request.urlopen(urllib.request.Request(p.url, method="HEAD"), timeout=20):
                return True
        except OSError:
            return False


def images_table(m: Matrix, sizes: dict[str, str] | None = None) -> str:
    """The table of Pythons of docs/images.md: a row per Python of the matrix. SIZES: runtime tag ->
    measured size, from scripts/build-images --all."""
    sizes = sizes or {}
    mins = m.data["min"]["pythons"]
    lines = [
        "| runtime image (target stage) | Python | Debian | comes from | build stage | pillow pair | runtime size | compact target (no shell) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in m.pythons:
        origin = (
            f"upstream tarball {p.full_version}, built here" + (", free-threaded (no GIL)" if p.free_threaded else "")
            if p.from_source
            else f"Debian's `python{p.version}` package"
        )
        pillow = f"`{p.name}-pillow`, `build-{p.name}-pillow`" if p.name in m.data["pillow"] else "-"
        release = m.releases[p.release]
        debian = f"{p.release} ({release['debian']})"
        compact = f"`{p.name}-min`" + (f", {sizes[p.name + '-min']}" if p.name + "-min" in sizes else "")
        lines.append(
            f"| `{p.name}` | {p.abi} | {debian} | {origin} | `build-{p.name}` | {pillow} | {sizes.get(p.name, '-')} "
            f"| {compact if p.name in mins else '-'} |"
        )
    return "\n".join(lines)


def local_sizes(m: Matrix) -> dict[str, str]:
    """The size of each runtime image built here (podman), next to its Debian slim base's, and
    of each -min image."""
    import subprocess

    def size(ref: str) -> int | None:
        r = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", ref], capture_output=True, text=True)
        return int(r.stdout) if r.returncode == 0 else None

    sizes = {}
    for p in m.pythons:
        own, base = size(f"{m.registry}:{p.name}"), size(f"docker.io/library/debian:{p.release}-slim")
        if own and base:
            sizes[p.name] = f"{own / 1e6:.0f} MB (slim base {base / 1e6:.0f} MB)"
        compact = size(f"{m.registry}:{p.name}-min")
        if compact:
            sizes[f"{p.name}-min"] = f"{compact / 1e6:.0f} MB"
    return sizes


def main(argv: list[str]) -> int:
    parser = arguments("image-matrix", __doc__)
    parser.add_argument("--ci", action="store_true", help="the CI selection")
    parser.add_argument("--table", action="store_true", help="the table of Pythons of docs/images.md")
    parser.add_argument("--sizes", action="store_true", help="with --table: the sizes of the images built here")
    parser.add_argument(
        "--free-threaded",
        action="store_true",
        help="the build image and interpreter of the selection's free-threaded Python (scripts/test-in-root)",
    )
    args = parser.parse_args(argv)
    m = Matrix()
    if args.free_threaded:
        names = {i.name for i in m.images(ci=args.ci)}
        free = [p for p in m.pythons if p.free_threaded and f"build-{p.name}" in names]
        if not free:
            print("image-matrix: the selection has no free-threaded Python", file=sys.stderr)
            return 1
        print(f"build-{free[0].name} python{free[0].abi}")
        return 0
    if args.table:
        print(images_table(m, local_sizes(m) if args.sizes else None))
        return 0
    for img in m.images(ci=args.ci):
        print(img.name)
    return 0
