"""A case's evidence bundle: the items with their evidence, media hashes, extra files (plots), the STIX bundle and a
manifest of sha256 sums, as a zip or a directory; :func:`verify_bundle` recomputes the sums.

Layout (every path relative to the bundle's root)::

    items.json          {"case": {...}, "items": {kind: [documents...]}}  (kinds: posts, accounts, clusters, edges,
                        narratives, cascades, alerts, notes: the store documents as given, ``_*`` fields out)
    media_hashes.json   [{"sha256", "kinds", "media_urls", "post_keys", "manipulation_scores", "signals",
                          "observations", "bank_matches", "pdq"?}]  one entry per distinct media sha256, sorted
    stix.json           the STIX 2.1 bundle of the case (flockwatch.exports.stix.case_bundle)
    files/<name>        each extra file as given (e.g. plots: ``cascade.png``)
    manifest.json       {"format": 1, "case_id", "files": [{"path", "sha256", "size"}]}  every file above but itself

The zip is reproducible: members sorted, fixed timestamps, JSON with sorted keys, so the same case gives the same
bytes. With ``pseudonymise`` every output (items, media hashes, STIX) carries pseudonyms only
(:mod:`flockwatch.exports.pseudonyms`). Extra file names must be plain (letters, digits, ``.``, ``_``, ``-``; no
directories, not starting with ``.``) so a bundle can never write outside its root when unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flockwatch.exports import disarm, pseudonyms, stix
from flockwatch.exports.pseudonyms import Pseudonymise

FORMAT = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _json(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def media_hashes(posts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per distinct media sha256 among the posts (their ``media`` and media scores), with where it was
    seen and what the media stage said of it."""
    by_hash: dict[str, dict[str, Any]] = {}

    def entry(sha: str) -> dict[str, Any]:
        return by_hash.setdefault(
            sha.lower(),
            {
                "sha256": sha.lower(),
                "kinds": set(),
                "media_urls": set(),
                "post_keys": set(),
                "manipulation_scores": [],
                "signals": [],
                "observations": [],
                "bank_matches": [],
            },
        )

    for p in posts:
        key = str(p.get("key") or "")
        for m in p.get("media") or []:
            if isinstance(m, Mapping) and m.get("sha256"):
                e = entry(str(m["sha256"]))
                e["post_keys"].add(key)
                if m.get("url"):
                    e["media_urls"].add(str(m["url"]))
                if m.get("kind"):
                    e["kinds"].add(str(m["kind"]))
        for s in disarm.media_entries(p):
            if not s.get("sha256"):
                continue
            e = entry(str(s["sha256"]))
            e["post_keys"].add(key)
            if s.get("media_url"):
                e["media_urls"].add(str(s["media_url"]))
            if s.get("media_kind"):
                e["kinds"].add(str(s["media_kind"]))
            if isinstance(s.get("manipulation_score"), int | float):
                e["manipulation_scores"].append(s["manipulation_score"])
            e["signals"] += [dict(sig) for sig in s.get("signals") or [] if isinstance(sig, Mapping)]
            e["observations"] += [dict(o) for o in s.get("observations") or [] if isinstance(o, Mapping)]
            e["bank_matches"] += [dict(mt) for mt in s.get("matches") or [] if isinstance(mt, Mapping)]
            if s.get("pdq"):
                e["pdq"] = s["pdq"]
    out = []
    for sha in sorted(by_hash):
        e = by_hash[sha]
        out.append({k: sorted(v) if isinstance(v, set) else v for k, v in e.items()})
    return out


def bundle_files(
    case: Mapping[str, Any],
    items: Mapping[str, Iterable[Mapping[str, Any]]],
    files: Mapping[str, bytes] | None = None,
    *,
    pseudonymise: Pseudonymise | None = None,
) -> dict[str, bytes]:
    """Every file of the bundle (path → bytes), the manifest included."""
    docs = pseudonyms.items(items, pseudonymise)
    case_view = {k: v for k, v in case.items() if not str(k).startswith("_")}
    out: dict[str, bytes] = {
        "items.json": _json({"case": case_view, "items": docs}),
        "media_hashes.json": _json(media_hashes(docs.get("posts", []))),
        # the STIX builder pseudonymises the raw items itself (same rewrite, same result)
        "stix.json": (stix.dumps(stix.case_bundle(case, items, pseudonymise=pseudonymise)) + "\n").encode("utf-8"),
    }
    for name, data in sorted((files or {}).items()):
        if not _NAME.match(name) or ".." in name:
            raise ValueError(f"extra file name {name!r} is not a plain file name (letters, digits, . _ -)")
        out[f"files/{name}"] = bytes(data)
    listing = [
        {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for path, data in sorted(out.items())
    ]
    case_id = str(case.get("case_id") or case.get("id") or "")
    out[MANIFEST] = _json({"format": FORMAT, "case_id": case_id, "files": listing})
    return out


def write_bundle(
    case: Mapping[str, Any],
    items: Mapping[str, Iterable[Mapping[str, Any]]],
    dest: Path | str,
    files: Mapping[str, bytes] | None = None,
    *,
    pseudonymise: Pseudonymise | None = None,
    as_zip: bool = True,
) -> Path:
    """Write the bundle to ``dest``: a zip file, or (``as_zip=False``) a directory that must not exist yet."""
    content = bundle_files(case, items, files, pseudonymise=pseudonymise)
    target = Path(dest)
    if as_zip:
        target.write_bytes(zip_bytes(content))
        return target
    target.mkdir(parents=True, exist_ok=False)
    for path, data in content.items():
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return target


def zip_bytes(content: Mapping[str, bytes]) -> bytes:
    """``content`` as a reproducible zip (sorted members, fixed times, deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(content):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content[path])
    return buffer.getvalue()


def _read(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    with zipfile.ZipFile(path) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def verify_bundle(path: Path | str) -> list[str]:
    """Problems found (empty when the bundle is intact): a file whose sha256 or size differs from the manifest, a
    file listed but missing, a file present but not listed, or a missing/unreadable manifest. Each names the file."""
    try:
        content = _read(Path(path))
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"cannot read the bundle: {exc}"]
    raw = content.pop(MANIFEST, None)
    if raw is None:
        return [f"{MANIFEST}: missing"]
    try:
        listing = json.loads(raw)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST}: unreadable ({exc})"]
    problems = []
    listed = set()
    for entry in listing:
        name = str(entry.get("path"))
        listed.add(name)
        data = content.get(name)
        if data is None:
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.get("sha256"):
            problems.append(f"{name}: sha256 {digest} differs from the manifest's {entry.get('sha256')}")
        elif len(data) != entry.get("size"):
            problems.append(f"{name}: size {len(data)} differs from the manifest's {entry.get('size')}")
    problems += [f"{name}: present but not in the manifest" for name in sorted(set(content) - listed)]
    return problems
