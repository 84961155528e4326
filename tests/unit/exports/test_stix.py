from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

from flockwatch.exports import disarm, stix
from tests.unit.exports.case_data import ACCOUNTS, SHA_FAKE, case_items

CASE = {"case_id": "k-1", "name": "Election case", "created_at": "2024-05-01T00:00:00Z"}
DOC = Path(__file__).resolve().parents[3] / "docs" / "disarm.md"


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def test_case_bundle_validates_without_errors() -> None:
    bundle = stix.case_bundle(CASE, case_items())
    errors, _ = stix.validate(bundle)
    assert errors == []
    assert bundle["type"] == "bundle"
    kinds = {o["type"] for o in bundle["objects"]}
    assert {"report", "user-account", "note", "grouping", "relationship", "url", "file", "attack-pattern"} <= kinds


def test_cluster_bundle_validates_without_errors() -> None:
    items = case_items()
    bundle = stix.cluster_bundle(items["clusters"][0], items["edges"], items["accounts"], items["posts"])
    assert stix.validate(bundle)[0] == []
    grouping = next(g for g in by_type(bundle, "grouping") if g["name"] == "Coordination cluster c-1")
    accounts = {o["id"]: o for o in by_type(bundle, "user-account")}
    members = {accounts[r]["user_id"] for r in grouping["object_refs"] if r in accounts}
    assert members == set(ACCOUNTS[:3])
    rels = [r for r in by_type(bundle, "relationship") if r["source_ref"] in accounts]
    assert len(rels) == 9  # 6 co_link + 3 co_hashtag directed edges inside the cluster
    assert all("min Δt 1.0 s" in r["description"] for r in rels)


def test_ids_are_stable_across_runs_and_input_order() -> None:
    first = stix.dumps(stix.case_bundle(CASE, case_items()))
    shuffled = case_items()
    rng = random.Random(7)
    for docs in shuffled.values():
        rng.shuffle(docs)
    assert stix.dumps(stix.case_bundle(CASE, shuffled)) == first
    other = stix.case_bundle(dict(CASE, case_id="k-2"), case_items())
    assert json.loads(first)["id"] != other["id"]


def test_accounts_urls_files_and_posts() -> None:
    bundle = stix.case_bundle(CASE, case_items())
    account = next(a for a in by_type(bundle, "user-account") if a["user_id"] == ACCOUNTS[0])
    assert account["account_type"] == "twitter" and account["account_login"] == "handle_alpha"
    assert [u["value"] for u in by_type(bundle, "url")] == ["https://ex.example/x"]
    (file,) = by_type(bundle, "file")
    assert file["hashes"] == {"SHA-256": SHA_FAKE, "x_pdq": "f" * 64}
    post = next(
        n for n in by_type(bundle, "note") if n.get("external_references", [{}])[0].get("external_id") == "twitter:p00"
    )
    assert post["content"].startswith("Vote early!")
    assert {account["id"], file["id"]} <= set(post["object_refs"])
    narrative = next(g for g in by_type(bundle, "grouping") if g["name"] == "Narrative n-1")
    assert narrative["description"] == "Vote early! #a #b #c"
    assert post["id"] in narrative["object_refs"]


def techniques(bundle: dict[str, Any]) -> set[str]:
    out = set()
    for ap in by_type(bundle, "attack-pattern"):
        (ref,) = ap["external_references"]
        assert ref["source_name"] == "DISARM"
        out.add(ref["external_id"])
    return out


def test_disarm_techniques_only_where_evidence_supports_them() -> None:
    bundle = stix.case_bundle(CASE, case_items())
    assert techniques(bundle) == {"T0049", "T0049.002", "T0084.001", "T0119.002", "T0085.001", "T0086.002", "T0084"}
    ap = {o["id"]: o for o in by_type(bundle, "attack-pattern")}
    why = [r for r in by_type(bundle, "relationship") if r["target_ref"] in ap]
    assert all(r["description"] for r in why)


def test_no_technique_without_evidence() -> None:
    items = case_items()
    weak = {
        "posts": [{k: v for k, v in p.items() if k != "media_by_url"} for p in items["posts"]],
        "edges": [e for e in items["edges"] if e["kind"] == "co_hashtag" and e["source"] != ACCOUNTS[2]][:2],
        "narratives": [dict(items["narratives"][0], platforms={"twitter": 8}, joined_by={"new": 8}, machine_share=0.1)],
    }
    bundle = stix.case_bundle(CASE, weak)
    assert stix.validate(bundle)[0] == []
    assert techniques(bundle) == set()


def test_alerts_and_notes_point_at_their_subjects() -> None:
    bundle = stix.case_bundle(CASE, case_items())
    ids = {o["id"] for o in bundle["objects"]}
    alert = next(n for n in by_type(bundle, "note") if n["abstract"].startswith("Alert machine_text"))
    assert len(alert["object_refs"]) >= 3 and set(alert["object_refs"]) <= ids
    note = next(n for n in by_type(bundle, "note") if n.get("authors") == ["analyst1"])
    assert note["content"] == f"{ACCOUNTS[1]} leads"
    (report,) = by_type(bundle, "report")
    assert set(report["object_refs"]) == ids - {report["id"]}


def test_doc_table_mirrors_the_mapping() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+?) \| (T\d{4}(?:\.\d{3})?) \| (.+?) \|$", text, re.M)
    documented = {key: {"evidence": ev, "technique_id": tid, "technique": name} for key, ev, tid, name in rows}
    assert documented == disarm.DISARM_MAPPING
    assert disarm.markdown_table() in text


def test_mapping_ids_look_like_disarm_ids() -> None:
    for row in disarm.DISARM_MAPPING.values():
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", row["technique_id"])


def test_input_is_not_modified() -> None:
    items = case_items()
    before = copy.deepcopy(items)
    stix.case_bundle(CASE, items, pseudonymise=lambda k: "anon:" + k[-4:])
    assert items == before
