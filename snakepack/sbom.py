"""find-libdeps --sbom: a CycloneDX 1.6 document that says why each Debian package is there.

Components: every Python distribution found under the scanned trees (*.dist-info, *.egg-info),
every Debian package the trees need (from the root's dpkg status: version, architecture, source
package), and every bundled library (inside a scanned tree, owned by no package) as a component
of the distribution whose RECORD lists it. Dependencies follow the load trees: a distribution
depends on what its ELF files (and, with --dlopen, its Python sources) load, a bundled library
and a Debian package on what their libraries load; the scanned trees, the document's subject,
depend on the distributions and on what files no distribution owns load. A dependency found
through a dlopen note or a Python call is named in the target's properties (snakepack:source),
as --json names it.

The document is deterministic: components and dependencies sorted, the timestamp taken from
$SOURCE_DATE_EPOCH (none without it), the serial number a UUIDv5 of the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from urllib.parse import quote

from . import __version__, dpkgstatus
from .confined import Root
from .errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import Any

    from .libdeps import LibdepsResult, Package, Resolution
    from .shlibs import MinimumVersion

__all__ = ["sbom", "distributions"]

SUBJECT = "snakepack:scanned"


class Distribution:
    """A Python distribution installed in a site directory: its metadata and its files."""

    def __init__(
        self, name: str, version: str, licenses: list[dict[str, Any]], files: set[str], tops: set[str], meta: str
    ):
        self.name, self.version, self.licenses, self.meta = name, version, licenses, meta
        self.files = files  # the paths it installed (RECORD, installed-files.txt)
        self.tops = tops  # else its top-level modules' paths, without suffix (top_level.txt)

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{_pypi_name(self.name)}@{quote(self.version, safe='')}"


def _pypi_name(name: str) -> str:
    """The name in a pypi purl: lower case, _ as - (purl's pypi type)."""
    return name.lower().replace("_", "-")


def _metadata(text: str) -> dict[str, list[str]]:
    """The header fields of a METADATA or PKG-INFO text (RFC 822 style), by name, in order."""
    fields: dict[str, list[str]] = {}
    last = None
    for line in text.split("\n"):
        if not line:
            break  # the description follows
        if line[0] in " \t" and last is not None:
            fields[last][-1] += "\n" + line.strip()
            continue
        name, colon, value = line.partition(":")
        if colon:
            last = name.strip().lower()
            fields.setdefault(last, []).append(value.strip())
    return fields


def _licenses(fields: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The declared licence: the License-Expression (PEP 639) alone when there is one; else the
    License field (when it is a short line: it is often the whole licence text) and the licence
    classifiers, by name. Names, never SPDX ids: no SPDX list is at hand to check an id
    against, and a CycloneDX id must be one."""
    for expression in fields.get("license-expression", []):
        return [{"expression": expression, "acknowledgement": "declared"}]
    found: list[dict[str, Any]] = []
    for text in fields.get("license", []):
        text = text.strip()
        if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
            found.append({"license": {"name": text, "acknowledgement": "declared"}})
    for classifier in fields.get("classifier", []):
        if classifier.startswith("License ::"):
            found.append({"license": {"name": classifier, "acknowledgement": "declared"}})
    return found


def _read(root: Root, path: str) -> str | None:
    try:
        return root.read_text(path)
    except OSError:
        return None


def _distribution(root: Root, meta: str) -> Distribution | None:
    """The distribution of a *.dist-info or *.egg-info directory (or egg-info file) META, a
    canonical path in ROOT."""
    site = os.path.dirname(meta)
    is_dir = root.isdir(meta)
    text = _read(
        root, os.path.join(meta, "METADATA" if meta.endswith(".dist-info") else "PKG-INFO") if is_dir else meta
    )
    if text is None:
        return None
    fields = _metadata(text)
    if not fields.get("name") or not fields.get("version"):
        return None
    files: set[str] = set()
    tops: set[str] = set()
    record = _read(root, os.path.join(meta, "RECORD")) if is_dir else None
    installed = _read(root, os.path.join(meta, "installed-files.txt")) if is_dir else None
    if record is not None:
        for line in record.splitlines():
            path = line.rsplit(",", 2)[0].strip('"')
            if path:
                files.add(os.path.normpath(os.path.join(site, path)))
    elif installed is not None:
        files = {os.path.normpath(os.path.join(meta, p)) for p in installed.splitlines() if p}
    else:  # Debian's egg-info: the top-level modules say which files are the distribution's
        tops = {os.path.join(site, top) for top in (_read(root, os.path.join(meta, "top_level.txt")) or "").split()}
    return Distribution(fields["name"][0], fields["version"][0], _licenses(fields), files, tops, meta)


def distributions(root: Root, paths: list[str]) -> list[Distribution]:
    """The Python distributions under PATHS (as seen in ROOT, every path resolved inside it),
    sorted by name; their paths are canonical paths of ROOT."""
    found: dict[str, Distribution] = {}
    for top in paths:
        for d, dirs, names in root.walk(top):
            for n in dirs + names:
                if n.endswith((".dist-info", ".egg-info")):
                    meta = os.path.join(d, n)
                    dist = _distribution(root, meta)
                    if dist is not None:
                        found.setdefault(meta, dist)
            dirs[:] = [n for n in dirs if not n.endswith((".dist-info", ".egg-info"))]
    return sorted(found.values(), key=lambda x: (_pypi_name(x.name), x.version, x.meta))


class _Owners:
    """Which distribution installed a path: its RECORD lists it, or it lies in (or is) one of
    its top-level modules."""

    def __init__(self, dists: list[Distribution]):
        self.files = {path: d for d in reversed(dists) for path in d.files}
        self.tops = {top: d for d in reversed(dists) for top in d.tops}

    def __call__(self, path: str) -> Distribution | None:
        found = self.files.get(path)
        if found is None and self.tops:
            directory, name = os.path.split(path)
            found = self.tops.get(os.path.join(directory, name.split(".")[0]))  # _foo.cpython-311-...so
            while found is None and directory not in ("/", ""):
                found = self.tops.get(directory)
                directory = os.path.dirname(directory)
        return found


def distro_of(root: Root) -> str:
    """The purl distro qualifier of ROOT: debian-12, or the codename of a release without a
    number (debian-forky)."""
    fields = dict(line.split("=", 1) for line in (_read(root, "/etc/os-release") or "").splitlines() if "=" in line)
    value = fields.get("VERSION_ID") or fields.get("VERSION_CODENAME") or "unknown"
    return f"{fields.get('ID', 'debian').strip(chr(34))}-{value.strip(chr(34))}"


def deb_purl(name: str, version: str, arch: str, distro: str) -> str:
    return f"pkg:deb/debian/{name}@{quote(version, safe='')}?arch={arch}&distro={distro}"


def status_of(root: Root) -> dict[tuple[str, str], dict[str, str]]:
    """The installed packages of ROOT's dpkg status (none where it has no database)."""
    return dpkgstatus.installed(_read(root, "/var/lib/dpkg/status") or "")


def sbom(result: LibdepsResult, minimum: list[MinimumVersion] | None = None) -> dict[str, Any]:
    """The CycloneDX 1.6 document of RESULT; MINIMUM (find-libdeps --versions) adds each
    package's minimum version as a property."""
    with Root(result.root) as root:
        return _sbom(root, result, minimum)


def _sbom(root: Root, result: LibdepsResult, minimum: list[MinimumVersion] | None) -> dict[str, Any]:
    dists = distributions(root, result.scanned)
    owner_of = _Owners(dists)
    status = status_of(root)
    distro = distro_of(root)

    refs: dict[object, str] = {}  # Package or bundled realpath -> bom-ref
    components: dict[str, dict[str, Any]] = {}
    dist_components: dict[str, dict[str, Any]] = {}
    for dist in dists:
        c: dict[str, Any] = {"type": "library", "bom-ref": dist.purl, "name": dist.name, "version": dist.version}
        if dist.licenses:
            c["licenses"] = dist.licenses
        c["purl"] = dist.purl
        dist_components[dist.meta] = components[dist.purl] = c

    def deb_ref(p: Package) -> str:
        if p not in refs:
            fields = status.get((p.name, p.arch), {})
            version = fields.get("Version", "")
            ref = deb_purl(p.name, version, p.arch, distro)
            source = (fields.get("Source") or p.name).split()[0]
            c = {"type": "library", "bom-ref": ref, "name": p.name, "version": version, "purl": ref}
            c["properties"] = [{"name": "snakepack:deb:source", "value": source}]
            components[ref] = c
            refs[p] = ref
        return refs[p]

    def bundled_ref(path: str) -> str:
        if path not in refs:
            ref = f"file:{path}"
            properties = [{"name": "snakepack:path", "value": path}]
            soname = result.sonames.get(path)
            if soname:
                properties.append({"name": "snakepack:soname", "value": soname})
            c: dict[str, Any] = {
                "type": "library",
                "bom-ref": ref,
                "name": os.path.basename(path),
                "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(root.read_bytes(path)).hexdigest()}],
                "properties": properties,
            }
            owner = owner_of(path)
            if owner is not None:  # shipped by this distribution: one of its components
                dist_components[owner.meta].setdefault("components", []).append(c)
            else:
                components[ref] = c
            refs[path] = ref
        return refs[path]

    edges: dict[str, set[str]] = {}
    sources: dict[str, set[str]] = {}
    for p in result.packages:
        deb_ref(p)
    for f in result.files:
        by_opened: dict[str, Resolution | None] = {f.path: None}
        for r in f.resolutions:
            if r.resolved:
                by_opened.setdefault(r.path or "", r)
        owner_dist = owner_of(f.realpath)
        top = owner_dist.purl if owner_dist else SUBJECT
        for r in f.resolutions:
            if not r.resolved:
                continue
            if r.bundled:
                targets = [bundled_ref(r.realpath or "")]
            else:
                targets = [deb_ref(p) for p in r.packages]
            if not targets:
                continue
            loader = by_opened.get(r.needed_by)
            if loader is None:
                frm = top  # the scanned file itself
            elif loader.bundled:
                frm = bundled_ref(loader.realpath or "")
            elif loader.packages:
                frm = deb_ref(loader.packages[0])
            else:
                frm = top
            for t in targets:
                if t != frm:
                    edges.setdefault(frm, set()).add(t)
                    if r.source != "DT_NEEDED":
                        sources.setdefault(t, set()).add(r.source)
    by_ref = {c["bom-ref"]: c for c in components.values()}
    for c in list(by_ref.values()):
        for sub in c.get("components", []):
            by_ref[sub["bom-ref"]] = sub
    for ref, how in sources.items():
        props = by_ref[ref].setdefault("properties", [])
        props.extend({"name": "snakepack:source", "value": s} for s in sorted(how))
    if minimum:
        for m in minimum:
            for p in result.packages:
                if p.name in m.packages and p in refs:
                    by_ref[refs[p]]["properties"].append({"name": "snakepack:deb:minimum", "value": m.depends})
    edges.setdefault(SUBJECT, set()).update(dist.purl for dist in dists)
    for c in by_ref.values():
        if "properties" in c:
            c["properties"].sort(key=lambda prop: (prop["name"], prop["value"]))
        if "components" in c:
            c["components"].sort(key=lambda sub: sub["bom-ref"])
    dependencies = [{"ref": ref, "dependsOn": sorted(edges.get(ref, ()))} for ref in sorted([SUBJECT, *by_ref])]
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": _metadata_block(result),
        "components": [components[ref] for ref in sorted(components)],
        "dependencies": dependencies,
    }
    return serialized(doc, "snakepack-sbom")


def serialized(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """DOC with its serial number: a UUIDv5 of its content (KIND names the document's kind)."""
    content = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:" + hashlib.sha256(content).hexdigest())
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": f"urn:uuid:{serial}", **doc}


def tool_metadata() -> dict[str, Any]:
    """The metadata every document of snakepack's has: the timestamp of $SOURCE_DATE_EPOCH
    (none without it) and snakepack as the tool."""
    meta: dict[str, Any] = {}
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.isdigit():
            raise UsageError(f"$SOURCE_DATE_EPOCH={epoch!r}: not a number of seconds")
        import time

        meta["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    meta["tools"] = {"components": [{"type": "application", "name": "snakepack", "version": __version__}]}
    return meta


def _metadata_block(result: LibdepsResult) -> dict[str, Any]:
    meta = tool_metadata()
    meta["component"] = {
        "type": "application",
        "bom-ref": SUBJECT,
        "name": " ".join(result.scanned),
        "properties": [{"name": "snakepack:root", "value": result.root}],
    }
    return meta
