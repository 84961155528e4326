"""C2PA Content Credentials, read offline with c2pa-python, summarised and scored.

``read_c2pa`` turns a file's manifest store into a JSON-able summary: who signed it, which tool made
the claim, whether it declares generated content (IPTC ``trainedAlgorithmicMedia`` and kin, also
through its ingredients), which edits it records, and whether it validates. ``C2paSignal`` scores it.

Offline by construction: c2pa's ``verify.remote_manifest_fetch`` and ``verify.ocsp_fetch`` are off,
so a file whose manifest lives on a server is reported (with the URL it names) and never fetched.

Trust: without a trust list every signature reads as untrusted, which is not a failure. Pass a PEM
file of trust anchors (e.g. the C2PA conformance trust list) to tell a known signer from anyone with
a self-made certificate; Settings field proposed: ``c2pa_trust_anchors: Path | None``
(``FLOCKWATCH_C2PA_TRUST_ANCHORS``).

Scoring follows one rule: a manifest's admissions (generated, edited) are credible from any valid
signer, since nobody forges a claim against their own image; its claims of authenticity (a camera
capture) count as facts only from a trusted signer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import c2pa

from flockwatch.media.metadata import (
    COMPOSITE_AI_SOURCE_TYPES,
    IPTC_DST,
    is_ai_source_type,
    source_type_name,
    xmp_packet,
)
from flockwatch.media.signal import Finding, MediaFile, Tier

Characterisation = Literal[
    "ai_generated", "edited", "captured", "signed", "unsigned", "remote_manifest", "invalid", "unreadable"
]

CAPTURE_SOURCE_TYPES = frozenset(
    {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print", "compositeCapture"}
)
# Actions that record where content came from or how it was stored, not a change to what it shows.
NON_EDIT_ACTIONS = frozenset(
    {"c2pa.created", "c2pa.opened", "c2pa.published", "c2pa.repackaged", "c2pa.converted", "c2pa.transcoded",
     "c2pa.edited.metadata"}
)  # fmt: skip
# Edits that keep the scene as shot (geometry, tone, an invisible watermark); the rest can change it.
LIGHT_EDITS = frozenset(
    {"c2pa.cropped", "c2pa.resized", "c2pa.orientation", "c2pa.color_adjustments", "c2pa.watermarked",
     "c2pa.watermarked.bound", "c2pa.watermarked.unbound"}
)  # fmt: skip
# Failure codes about the signer's credentials or identity, not about the bytes: offline and without a
# trust list they are expected, and they do not mean the content changed after signing.
_CREDENTIAL_PREFIXES = ("signingCredential.", "timeStamp.", "cawg.ica.", "cawg.identity.")
_REVOKED = frozenset({"signingCredential.revoked", "signingCredential.ocsp.revoked"})
_URL = re.compile(r"https?://[^\s\"'<>]+")
MAX_DEPTH = 8  # ingredient manifests followed, against cycles and deep chains

SCORES = {
    "ai_generated": 0.97,
    "ai_composite": 0.9,
    "invalid": 0.9,
    "edited_heavy": 0.7,
    "captured_trusted": 0.1,
}


def load_trust_anchors(path: Path) -> str:
    """The PEM text of a trust-anchor file; raises ``ValueError`` when it holds no certificate."""
    pem = path.read_text(encoding="ascii", errors="strict")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"no PEM certificate in trust anchors file {path}")
    return pem


def c2pa_settings(trust_pem: str | None = None) -> dict[str, Any]:
    """c2pa settings: never fetch (manifests, OCSP), verify trust against ``trust_pem`` when given."""
    settings: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True},
    }
    if trust_pem is not None:
        settings["trust"] = {"trust_anchors": trust_pem}
    return settings


# ---------------------------------------------------------------------------------------------- summary


def _agent(agent: Any, agents: list[Any], index: Any) -> str | None:
    if isinstance(index, int) and 0 <= index < len(agents):
        agent = agents[index]
    if isinstance(agent, str):
        return agent
    if isinstance(agent, dict) and isinstance(agent.get("name"), str):
        version = agent.get("version")
        return f"{agent['name']} {version}" if isinstance(version, str) else str(agent["name"])
    return None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        data = assertion.get("data") or {}
        agents = data.get("softwareAgents") or []
        for a in data.get("actions") or []:
            if not isinstance(a, dict):
                continue
            raw_params = a.get("parameters")
            params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
            dst = a.get("digitalSourceType") or params.get("digitalSourceType")
            out.append(
                {
                    "action": str(a.get("action", "")),
                    "software_agent": _agent(a.get("softwareAgent"), agents, a.get("softwareAgentIndex")),
                    "digital_source_type": dst if isinstance(dst, str) else None,
                    "description": a.get("description") or params.get("description"),
                }
            )
    return out


def _source_types(manifest: dict[str, Any]) -> list[str]:
    """Every digitalSourceType the manifest's assertions declare (actions, IPTC metadata...)."""
    found: list[str] = []
    stack: list[Any] = [a.get("data") for a in manifest.get("assertions") or []]
    budget = 50_000
    while stack and budget:
        budget -= 1
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("digitalSourceType", "Iptc4xmpExt:DigitalSourceType") and isinstance(v, str):
                    found.append(v)
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return list(dict.fromkeys(found))


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info") or []
    first = info[0] if isinstance(info, list) and info and isinstance(info[0], dict) else {}
    name = first.get("name")
    if isinstance(name, str):
        version = first.get("version")
        return f"{name} {version}" if isinstance(version, str) else name
    cg = manifest.get("claim_generator")
    return cg if isinstance(cg, str) else None


def _ancestry(store: dict[str, Any], label: str | None) -> list[tuple[dict[str, Any], bool]]:
    """The manifest ``label`` and, through its ingredients, its ancestors: (manifest, reached via a componentOf),
    nearest first, up to ``MAX_DEPTH`` ingredient hops.

    Breadth first, each manifest visited once per way of reaching it (as a component or not): a hostile store
    whose ingredients all point at the same manifests would otherwise be walked once per path, exponentially."""
    manifests = store.get("manifests") or {}
    if label is None or label not in manifests:
        return []
    out: list[tuple[dict[str, Any], bool]] = []
    seen = {(label, False)}
    level = [(label, False)]
    for depth in range(MAX_DEPTH + 1):
        following: list[tuple[str, bool]] = []
        for name, component in level:
            manifest = manifests[name]
            out.append((manifest, component))
            if depth == MAX_DEPTH:
                continue
            for ing in manifest.get("ingredients") or []:
                parent = ing.get("active_manifest")
                via = component or ing.get("relationship") == "componentOf"
                if isinstance(parent, str) and parent in manifests and (parent, via) not in seen:
                    seen.add((parent, via))
                    following.append((parent, via))
        level = following
    return out


def _lineage(store: dict[str, Any], label: str | None) -> set[str]:
    """Digital source types declared by a manifest and its ancestors."""
    types: set[str] = set()
    for manifest, component in _ancestry(store, label):
        for t in _source_types(manifest):
            # A generated component makes the whole a composite, not a fully generated image.
            types.add(IPTC_DST + "compositeWithTrainedAlgorithmicMedia" if component and is_ai_source_type(t) else t)
    return types


def _ai_agents(store: dict[str, Any], label: str | None) -> list[str]:
    """Software agents of the actions that declared generated content (e.g. GPT-4o), across the ancestry."""
    agents = [
        a["software_agent"]
        for manifest, _ in _ancestry(store, label)
        for a in _actions(manifest)
        if a["software_agent"] and a["digital_source_type"] and is_ai_source_type(a["digital_source_type"])
    ]
    return list(dict.fromkeys(agents))


def _ingredients(store: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = store.get("manifests") or {}
    out = []
    for ing in manifest.get("ingredients") or []:
        label = ing.get("active_manifest")
        types = _lineage(store, label)
        out.append(
            {
                "title": ing.get("title"),
                "relationship": ing.get("relationship"),
                "format": ing.get("format"),
                "has_provenance": label in manifests,
                "claim_generator": _generator(manifests[label]) if label in manifests else None,
                "ai_generated": any(is_ai_source_type(t) for t in types),
                "digital_source_types": sorted(types),
            }
        )
    return out


def _failure_kind(code: str) -> str:
    if code in _REVOKED:
        return "integrity"  # a revoked key can have signed anything
    return "credential" if code.startswith(_CREDENTIAL_PREFIXES) else "integrity"


def _validation(store: dict[str, Any]) -> dict[str, Any]:
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    # Older stores have no validation_results: their validation_status lists failures only.
    raw_failures = list((active.get("failure") if active else store.get("validation_status")) or [])
    failures = [
        {"code": f.get("code"), "explanation": f.get("explanation"), "kind": _failure_kind(str(f.get("code", "")))}
        for f in raw_failures
        if isinstance(f, dict)
    ]
    for delta in results.get("ingredientDeltas") or []:
        for f in (delta.get("validationDeltas") or {}).get("failure") or []:
            failures.append(
                {"code": f.get("code"), "explanation": f.get("explanation"), "kind": "ingredient",
                 "ingredient": delta.get("ingredientAssertionURI")}
            )  # fmt: skip
    success = {str(s.get("code")) for s in active.get("success") or [] if isinstance(s, dict)}
    codes = {str(f["code"]) for f in failures if f["kind"] != "ingredient"}
    return {
        "state": store.get("validation_state"),
        "trusted": "signingCredential.trusted" in success or store.get("validation_state") == "Trusted",
        "signature_valid": "claimSignature.validated" in success
        and not any(f["kind"] == "integrity" for f in failures),
        "integrity_ok": not any(f["kind"] == "integrity" for f in failures),
        "expired": "signingCredential.expired" in codes,
        "failures": failures,
    }


def summarise_store(store: dict[str, Any], trust_list: bool) -> dict[str, Any]:
    """The summary of a manifest store (``Reader.json()``), without I/O: the testable core of ``read_c2pa``."""
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    sig = manifest.get("signature_info") or {}
    actions = _actions(manifest)
    lineage = _lineage(store, label)
    ai_types = sorted(source_type_name(t) for t in lineage if is_ai_source_type(t))
    edits = [a["action"] for a in actions if a["action"] and a["action"] not in NON_EDIT_ACTIONS]
    captured = any(source_type_name(t) in CAPTURE_SOURCE_TYPES for t in lineage)
    validation = _validation(store)
    validation["trust_list"] = trust_list

    char: Characterisation
    if not validation["integrity_ok"]:
        char = "invalid"
    elif ai_types:
        char = "ai_generated"
    elif edits:
        char = "edited"
    elif captured:
        char = "captured"
    else:
        char = "signed"
    return {
        "has_manifest": True,
        "manifest_location": "embedded",
        "remote_url": None,
        "active_manifest": label,
        "title": manifest.get("title"),
        "claim_generator": _generator(manifest),
        "claim_generator_info": manifest.get("claim_generator_info") or [],
        "signer": sig.get("common_name"),
        "issuer": sig.get("issuer"),
        "signed_at": sig.get("time"),
        "ai_generated": bool(ai_types),
        "ai_composite": bool(ai_types) and set(ai_types) <= COMPOSITE_AI_SOURCE_TYPES,
        "digital_source_types": sorted(lineage),
        "ai_agents": _ai_agents(store, label),
        "actions": actions,
        "edited": bool(edits),
        "edits": list(dict.fromkeys(edits)),
        "ingredients": _ingredients(store, manifest),
        "validation": validation,
        "characterisation": char,
    }


def _empty(char: Characterisation, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "has_manifest": False,
        "manifest_location": None,
        "remote_url": None,
        "ai_generated": False,
        "edited": False,
        "characterisation": char,
    }
    out.update(extra)
    return out


def _remote_url(message: str, path: Path) -> str | None:
    m = _URL.search(message)
    if m:
        return m.group(0).rstrip(".,;)")
    xmp = xmp_packet(path) or ""
    m = re.search(r"dcterms:provenance\s*=\s*[\"']([^\"']+)[\"']", xmp) or re.search(
        r"<dcterms:provenance[^>]*>\s*([^<\s]+)\s*<", xmp
    )
    return m.group(1) if m else None


def read_c2pa(path: Path, trust_anchors: Path | None = None, *, mime: str | None = None) -> dict[str, Any]:
    """A JSON-able summary of the file's C2PA manifest; never touches the network.

    ``characterisation`` is one of ``ai_generated``, ``edited``, ``captured``, ``signed`` (valid, claims
    none of those), ``unsigned`` (no manifest), ``remote_manifest`` (stored remotely: not fetched,
    ``remote_url`` says where), ``invalid`` (content or claim changed after signing) or ``unreadable``
    (c2pa could not parse the container; ``error`` says why). ``mime`` skips c2pa's own type detection.
    """
    trust_pem = load_trust_anchors(trust_anchors) if trust_anchors is not None else None
    try:
        with (
            c2pa.Settings.from_dict(c2pa_settings(trust_pem)) as settings,
            c2pa.Context(settings=settings) as ctx,
            path.open("rb") as f,
        ):
            reader = c2pa.Reader.try_create(mime, f, None, ctx)
            if reader is None:
                return _empty("unsigned")
            with reader:
                store = json.loads(reader.json())
                embedded = reader.is_embedded()
                remote = reader.get_remote_url()
    except c2pa.C2paError as e:
        message = str(e)
        if message.startswith("Remote") or "remote manifest" in message.lower():
            return _empty(
                "remote_manifest",
                manifest_location="remote",
                remote_url=_remote_url(message, path),
                error=f"manifest is stored remotely and was not fetched (offline): {message}",
            )
        return _empty("unreadable", error=f"{type(e).__name__}: {message}")
    summary = summarise_store(store, trust_list=trust_pem is not None)
    if not embedded:  # a remote manifest handed to us some other way (never fetched here)
        summary["manifest_location"] = "remote"
        summary["remote_url"] = remote
    return summary


# ---------------------------------------------------------------------------------------------- signal


def _trust_words(v: dict[str, Any]) -> str:
    if not v["signature_valid"]:
        sig = "signature not validated"
    else:
        sig = "signature valid" + (", certificate expired" if v["expired"] else "")
    if v["trusted"]:
        return f"{sig}, trusted"
    return f"{sig}, untrusted ({'signer not in trust list' if v['trust_list'] else 'no trust list'})"


def _who(s: dict[str, Any]) -> str:
    gen = s.get("claim_generator") or "unknown tool"
    issuer = s.get("issuer")
    return f"{gen} ({issuer})" if issuer and issuer.lower() not in gen.lower() else gen


def score_summary(s: dict[str, Any]) -> Finding | None:
    """The finding for a ``read_c2pa`` summary; ``None`` where the manifest says nothing either way."""
    char = s["characterisation"]
    # Facts without an opinion are observations (score None): reported, never fused.
    if char == "unsigned":
        return Finding.observation("c2pa", "C2PA: no Content Credentials (absence is not evidence)", Tier.provenance, s)
    if char in ("signed", "unreadable"):
        detail = (
            f"C2PA: {s.get('error') or 'manifest unreadable'}"
            if char == "unreadable"
            else (f"C2PA: manifest by {_who(s)} claims no AI generation, edits or capture")
        )
        return Finding.observation("c2pa", detail, Tier.provenance, s)
    if char == "remote_manifest":
        detail = f"C2PA: manifest stored remotely at {s.get('remote_url')}; not fetched (offline), not validated"
        return Finding.observation("c2pa", detail, Tier.provenance, s)
    v = s["validation"]
    who, trust = _who(s), _trust_words(v)
    if char == "invalid":
        codes = ", ".join(dict.fromkeys(str(f["code"]) for f in v["failures"] if f["kind"] == "integrity"))
        also = "; it declares generated content" if s["ai_generated"] else ""
        detail = f"C2PA: manifest by {who} fails validation ({codes}): changed after signing{also}"
        return Finding.scored("c2pa", SCORES["invalid"], detail, Tier.provenance, s)
    if char == "ai_generated":
        ai = [t for t in map(source_type_name, s["digital_source_types"]) if is_ai_source_type(t)]
        composite = s["ai_composite"]
        via = "" if _declared_here(s) else " through an ingredient"
        agents = f" ({', '.join(s['ai_agents'])})" if s["ai_agents"] else ""
        detail = f"C2PA: {who} declares {', '.join(ai)}{agents}{via}; {trust}"
        score = SCORES["ai_composite" if composite else "ai_generated"]
        return Finding.scored("c2pa", score, detail, Tier.provenance, s)
    if char == "edited":
        heavy = [e for e in s["edits"] if e not in LIGHT_EDITS]
        names = ", ".join(e.removeprefix("c2pa.") for e in s["edits"])
        detail = f"C2PA: {who} records edits ({names}); {trust}"
        # A recorded crop or colour change is not manipulation: observed, not scored.
        if not heavy:
            return Finding.observation("c2pa", detail, Tier.provenance, s)
        return Finding.scored("c2pa", SCORES["edited_heavy"], detail, Tier.provenance, s)
    # captured, no edits: evidence of authenticity only when the signer is trusted.
    if v["trusted"]:
        detail = f"C2PA: {who} records a capture with no edits; {trust}"
        return Finding.scored("c2pa", SCORES["captured_trusted"], detail, Tier.provenance, s)
    detail = f"C2PA: {who} claims a capture with no edits; {trust}: a claim, not evidence"
    return Finding.observation("c2pa", detail, Tier.provenance, s)


def _declared_here(s: dict[str, Any]) -> bool:
    return any(a.get("digital_source_type") and is_ai_source_type(a["digital_source_type"]) for a in s["actions"])


class C2paSignal:
    """C2PA Content Credentials as evidence; ``trust_anchors`` is a PEM file of trusted roots."""

    name = "c2pa"
    tier = Tier.provenance

    def __init__(self, trust_anchors: Path | None = None) -> None:
        if trust_anchors is not None:
            load_trust_anchors(trust_anchors)  # fail at start-up, not on every file
        self.trust_anchors = trust_anchors
        self._mimes: frozenset[str] | None = None

    def applies_to(self, media: MediaFile) -> bool:
        if self._mimes is None:
            try:
                self._mimes = frozenset(c2pa.Reader.get_supported_mime_types())
            except c2pa.C2paError:
                self._mimes = frozenset()
        return media.mime in self._mimes

    def compute(self, media: MediaFile) -> Finding | None:
        return score_summary(read_c2pa(media.path, self.trust_anchors, mime=media.mime))
