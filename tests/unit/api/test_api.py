"""The query API over an in-memory store: the authorization matrix for every route and role, post search pages,
pseudonyms for researchers, spread histories, alert actions and the audit trail they leave.

The store's query language is not here (tests/integration/api runs the same routes on the real engines); this
store answers ``hits`` newest first and records the query it was given, so the tests check what reaches it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from flockwatch.api.access import Right, Role
from flockwatch.api.app import API, api_paths, create_app
from flockwatch.config import Settings
from flockwatch.store.documents import IndexKind
from tests.fakes.api_store import analyst_store
from tests.fakes.store import InMemoryStore


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, InMemoryStore, dict[str, str], Settings]]:
    settings = Settings(state_dir=tmp_path / "state")
    store = analyst_store()
    tokens, _ = api_paths(settings)
    keys = {role.value: tokens.create(f"{role.value} person", role) for role in Role}
    client = TestClient(create_app(settings, store))  # type: ignore[arg-type]  # the in-memory store
    yield client, store, keys, settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Every /api/v1/ route and the right it needs (a route missing here fails the coverage check below).
ROUTES: dict[tuple[str, str], tuple[str, Right | None]] = {
    ("POST", f"{API}/cases"): (f"{API}/cases", Right.act),
    ("GET", f"{API}/posts/{{post_key}}/media"): (f"{API}/posts/twitter:1/media", Right.read),
    ("GET", f"{API}/watchlists"): (f"{API}/watchlists", Right.read),
    ("PUT", f"{API}/watchlists/{{entity_id}}"): (f"{API}/watchlists/flood", Right.act),
    ("DELETE", f"{API}/watchlists/{{entity_id}}"): (f"{API}/watchlists/known", Right.act),
    ("GET", f"{API}/cases"): (f"{API}/cases", Right.read),
    ("GET", f"{API}/cases/{{case_id}}"): (f"{API}/cases/case-abc123", Right.read),
    ("POST", f"{API}/cases/{{case_id}}/items"): (f"{API}/cases/case-abc123/items", Right.act),
    ("POST", f"{API}/cases/{{case_id}}/notes"): (f"{API}/cases/case-abc123/notes", Right.act),
    ("GET", f"{API}/cases/{{case_id}}/export"): (f"{API}/cases/case-abc123/export", Right.export),
    ("GET", f"{API}/posts"): (f"{API}/posts?q=post", Right.read),
    ("GET", f"{API}/posts/{{post_key}}"): (f"{API}/posts/twitter:1", Right.read),
    ("GET", f"{API}/posts/{{post_key}}/spread"): (f"{API}/posts/twitter:1/spread", Right.read),
    ("GET", f"{API}/alerts"): (f"{API}/alerts", Right.read),
    ("GET", f"{API}/alerts/{{alert_id}}"): (f"{API}/alerts/a1", Right.read),
    ("GET", f"{API}/narratives/{{narrative_id}}"): (f"{API}/narratives/n-1", Right.read),
    ("GET", f"{API}/accounts/{{account_key}}"): (f"{API}/accounts/twitter:u1", Right.read),
    ("GET", f"{API}/clusters/{{cluster_id}}"): (f"{API}/clusters/c1", Right.read),
    ("GET", f"{API}/posts/{{post_key}}/spread/plot"): (f"{API}/posts/twitter:1/spread/plot", Right.read),
    ("GET", f"{API}/narratives/{{narrative_id}}/plot"): (f"{API}/narratives/n-1/plot?format=svg", Right.read),
    ("GET", f"{API}/clusters/{{cluster_id}}/plot"): (f"{API}/clusters/c1/plot", Right.read),
    ("GET", f"{API}/exports/posts"): (f"{API}/exports/posts?format=jsonl", Right.export),
    ("GET", f"{API}/posts/{{post_key}}/spread/export"): (f"{API}/posts/twitter:1/spread/export", Right.export),
    ("GET", f"{API}/clusters/{{cluster_id}}/export"): (f"{API}/clusters/c1/export?format=stix", Right.export),
    ("POST", f"{API}/alerts/{{alert_id}}/acknowledge"): (f"{API}/alerts/a1/acknowledge", Right.act),
    ("POST", f"{API}/alerts/{{alert_id}}/resolve"): (f"{API}/alerts/a1/resolve", Right.act),
    ("PUT", f"{API}/cascades/{{cascade_id}}/verdict"): (f"{API}/cascades/twitter:0/verdict", Right.act),
    ("DELETE", f"{API}/cascades/{{cascade_id}}/verdict"): (f"{API}/cascades/twitter:7/verdict", Right.act),
    ("GET", f"{API}/verdicts"): (f"{API}/verdicts", Right.read),
    ("GET", f"{API}/audit"): (f"{API}/audit", Right.administer),
    ("GET", f"{API}/me"): (f"{API}/me", None),
}


BODIES: dict[str, Any] = {
    f"{API}/watchlists/flood": {"name": "Flood", "aliases": ["the flood"]},
    f"{API}/cases": {"name": "Flood rumours"},
    f"{API}/cases/case-abc123/items": {"kind": "post", "ref": "twitter:1"},
    f"{API}/cases/case-abc123/notes": {"text": "same wording in both"},
    f"{API}/cascades/twitter:0/verdict": {"verdict": "false", "note": "fact-checked"},
}


def test_the_matrix_covers_every_api_route(setup: Any) -> None:
    client, *_ = setup
    routes = {
        (method, route.path)
        for route in client.app.routes
        if isinstance(route, APIRoute) and route.path.startswith(API)
        for method in route.methods
    }
    assert routes == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_authorization_matrix(setup: Any, route: tuple[str, str]) -> None:
    from flockwatch.api.access import RIGHTS

    client, store, keys, _ = setup
    method, _ = route
    url, right = ROUTES[route]
    for headers in ({}, auth("fw_" + "x" * 43), auth("not even a token"), {"Authorization": "Basic dTpw"}):
        answer = client.request(method, url, headers=headers)
        assert answer.status_code == 401, (url, headers, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
    body = BODIES.get(url)
    for role in Role:
        store.engine.docs[IndexKind.alerts]["a1"]["status"] = "new"
        store.engine.docs[IndexKind.cases]["case-abc123"]["items"] = []
        store.watchlists.put([{"id": "known", "name": "Known Person"}])
        store.verdicts.put({"cascade_id": "twitter:7", "verdict": "true", "by": "x", "at": "2026-01-01T00:00:00+00:00"})
        answer = client.request(method, url, headers=auth(keys[role.value]), json=body)
        ok = 201 if route == ("POST", f"{API}/cases") else 200
        expected = ok if right is None or right in RIGHTS[role] else 403
        if url.startswith(f"{API}/accounts/") and role is Role.researcher:
            expected = 403  # researchers see accounts only as pseudonyms
        assert answer.status_code == expected, (url, role, answer.text)


def test_a_revoked_token_is_refused_at_once(setup: Any) -> None:
    client, _, keys, settings = setup
    assert client.get(f"{API}/me", headers=auth(keys["analyst"])).json()["role"] == "analyst"
    tokens, _ = api_paths(settings)
    assert tokens.revoke("analyst person")
    assert client.get(f"{API}/me", headers=auth(keys["analyst"])).status_code == 401


def test_posts_come_in_pages_with_a_next_cursor(setup: Any) -> None:
    client, _, keys, _ = setup
    seen: list[str] = []
    url = f"{API}/posts?limit=3"
    while True:
        page = client.get(url, headers=auth(keys["analyst"])).json()
        seen += [p["key"] for p in page["items"]]
        if page["next"] is None:
            break
        url = f"{API}/posts?limit=3&next={page['next']}"
    assert seen == [f"twitter:{n}" for n in range(6, -1, -1)]  # newest first, each once
    bad = client.get(f"{API}/posts?next=bm90IGEgY3Vyc29y", headers=auth(keys["analyst"]))
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


def test_words_and_filters_reach_the_store_only_as_fixed_clauses(setup: Any) -> None:
    client, store, keys, _ = setup
    typed = 'text:* OR _id:1 {"script": 1} \\" author.id:u1'
    answer = client.get(
        f"{API}/posts",
        params={"q": typed, "platform": "twitter", "min_machine_score": 0.5},
        headers=auth(keys["admin"]),
    )
    assert answer.status_code == 200
    query = store.engine.queries[-1]
    [words] = query["bool"]["must"]
    assert words["simple_query_string"]["query"] == typed and words["simple_query_string"]["fields"] == [
        "text",
        "author.display_name",
    ]
    assert {"terms": {"platform": ["twitter"]}} in query["bool"]["filter"]
    assert client.get(f"{API}/posts", params={"q": "x" * 501}, headers=auth(keys["admin"])).status_code == 422
    assert client.get(f"{API}/posts", params={"limit": 10_000}, headers=auth(keys["admin"])).status_code == 422


def test_researchers_see_pseudonyms_only(setup: Any) -> None:
    client, _, keys, _ = setup
    page = client.get(f"{API}/posts", headers=auth(keys["researcher"])).json()
    text = json.dumps(page)
    assert "u1" not in text.replace("post ", "") and "handle_" not in text and "Name u" not in text
    pseudonyms = {p["author"]["id"] for p in page["items"]}
    assert len(pseudonyms) == 2 and all(p.startswith("anon:") for p in pseudonyms)
    again = client.get(f"{API}/posts", headers=auth(keys["researcher"])).json()
    assert {p["author"]["id"] for p in again["items"]} == pseudonyms  # stable: an account can still be followed
    spread = client.get(f"{API}/posts/twitter:1/spread", headers=auth(keys["researcher"])).json()
    assert all(n["account"].startswith("anon:") for n in spread["tree"]["nodes"])
    assert "twitter:u" not in json.dumps(spread)  # nor in the resharers' history evidence
    [flagged] = spread["metrics"]["resharer_history"]["flagged_resharers"]
    assert (
        flagged["account"].startswith("anon:")
        and flagged["account"] in spread["metrics"]["resharer_history"]["explanation"]
    )
    analyst = client.get(f"{API}/posts/twitter:1/spread", headers=auth(keys["analyst"])).json()
    assert analyst["metrics"]["resharer_history"]["flagged_resharers"][0]["account"] == "twitter:u1"
    refused = client.get(f"{API}/posts", params={"author": "twitter:u1"}, headers=auth(keys["researcher"]))
    assert refused.status_code == 403


def test_a_posts_spread_is_its_cascade_tree_metrics_and_timeline(setup: Any) -> None:
    client, _, keys, _ = setup
    spread = client.get(f"{API}/posts/twitter:2/spread", headers=auth(keys["analyst"])).json()
    assert spread["cascade_id"] == "twitter:0" and spread["metrics"]["size"] == 3
    assert [n["post_key"] for n in spread["tree"]["nodes"]] == ["twitter:0", "twitter:1", "twitter:2"]
    assert spread["tree"]["edges"] == [
        {"from": "twitter:0", "to": "twitter:1"},
        {"from": "twitter:1", "to": "twitter:2"},
    ]
    assert [p["posts"] for p in spread["timeline"]] == [1, 2, 3]
    merged = client.get(f"{API}/posts/twitter:5/spread", headers=auth(keys["analyst"])).json()
    assert merged["cascade_id"] == "twitter:0"  # its cascade was merged into twitter:0's
    assert client.get(f"{API}/posts/twitter:9/spread", headers=auth(keys["analyst"])).status_code == 404
    assert (
        client.get(f"{API}/posts/twitter:3/spread", headers=auth(keys["analyst"]))
        .json()["detail"]
        .endswith("(the graph stage has not seen it)")
    )


def test_an_analysts_verdict_on_a_cascade_is_kept_shown_replaced_and_withdrawn(setup: Any) -> None:
    client, store, keys, settings = setup
    analyst = auth(keys["analyst"])
    url = f"{API}/cascades/twitter:0/verdict"
    assert client.get(f"{API}/posts/twitter:2/spread", headers=analyst).json()["verdict"] is None
    given = client.put(url, json={"verdict": " FALSE ", "note": "fact-checked by AFP"}, headers=analyst)
    assert given.status_code == 200, given.text
    assert given.json() | {"at": None} == {
        "cascade_id": "twitter:0",
        "verdict": "false",
        "by": "analyst person",
        "at": None,
        "note": "fact-checked by AFP",
    }
    shown = client.get(f"{API}/posts/twitter:5/spread", headers=auth(keys["researcher"])).json()  # merged member
    assert shown["verdict"]["verdict"] == "false"
    assert client.put(url, json={"verdict": "true"}, headers=analyst).json()["verdict"] == "true"  # replaced
    assert [v["verdict"] for v in client.get(f"{API}/verdicts", headers=analyst).json()["items"]] == ["true"]
    refused = client.put(url, json={"verdict": "fake"}, headers=analyst)
    assert refused.status_code == 422 and "one of false, true, unverified" in refused.json()["detail"]
    missing = client.put(f"{API}/cascades/twitter:404/verdict", json={"verdict": "false"}, headers=analyst)
    assert missing.status_code == 404 and store.verdicts.get("twitter:404") is None
    assert client.delete(url, headers=analyst).json() == {"cascade_id": "twitter:0", "withdrawn": True}
    assert client.delete(url, headers=analyst).status_code == 404
    assert list(store.verdicts.every()) == []
    actions = [
        json.loads(line)["action"] for line in (settings.state_dir / "api" / "audit.jsonl").read_text().splitlines()
    ]
    assert actions.count("cascade_verdict") == 2 and actions.count("cascade_verdict_withdrawn") == 1


def test_verdicts_on_cascades_merged_since_show_on_the_cascade_that_holds_them_and_cannot_be_given_again(
    setup: Any,
) -> None:
    client, store, keys, _ = setup
    analyst = auth(keys["analyst"])
    cascades = store.engine.docs[IndexKind.cascades]
    stub = {"size": 0, "members": [], "events": []}
    cascades["twitter:90"] = {"cascade_id": "twitter:90", "merged_into": "twitter:0", **stub}
    cascades["twitter:91"] = {"cascade_id": "twitter:91", "merged_into": "twitter:90", **stub}  # two hops
    cascades["twitter:92"] = {"cascade_id": "twitter:92", "merged_into": "twitter:elsewhere", **stub}
    for cid, said in (("twitter:91", "false"), ("twitter:92", "true")):
        store.verdicts.put({"cascade_id": cid, "verdict": said, "by": "x", "at": "2026-01-01T00:00:00+00:00"})
    shown = client.get(f"{API}/posts/twitter:2/spread", headers=analyst).json()
    assert shown["cascade_id"] == "twitter:0" and shown["verdict"] is None
    assert [(v["cascade_id"], v["verdict"]) for v in shown["merged_verdicts"]] == [("twitter:91", "false")]
    refused = client.put(f"{API}/cascades/twitter:91/verdict", json={"verdict": "true"}, headers=analyst)
    assert refused.status_code == 409 and refused.json()["detail"] == (
        "cascade twitter:91 merged into twitter:0: judge twitter:0"
    )
    assert store.verdicts.get("twitter:91")["verdict"] == "false"  # unchanged


def test_alert_actions_follow_the_lifecycle_and_are_audited(setup: Any) -> None:
    client, store, keys, settings = setup
    done = client.post(f"{API}/alerts/a1/acknowledge", params={"note": "looking"}, headers=auth(keys["analyst"]))
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    again = client.post(f"{API}/alerts/a1/acknowledge", headers=auth(keys["analyst"]))
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
    assert client.post(f"{API}/alerts/nope/resolve", headers=auth(keys["analyst"])).status_code == 404
    assert store.engine.docs[IndexKind.alerts]["a1"]["history"][-1]["by"] == "analyst person"
    trail = client.get(f"{API}/audit", headers=auth(keys["admin"])).json()
    assert trail["broken_at_line"] is None
    assert trail["items"][0]["action"] == "alert_acknowledged" and trail["items"][0]["who"] == "analyst person"
    assert client.post(f"{API}/alerts/a1/resolve", headers=auth(keys["analyst"])).status_code == 200
    _, audit = api_paths(settings)
    lines = audit.path.read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["alert_acknowledged", "alert_resolved"]
    lines[0] = lines[0].replace("looking", "nothing to see")
    audit.path.write_text("\n".join(lines) + "\n")
    assert client.get(f"{API}/audit", headers=auth(keys["admin"])).json()["broken_at_line"] == 2


def test_a_store_outage_is_a_503_with_the_reason(setup: Any) -> None:
    client, store, keys, _ = setup
    store.engine.down = True
    answer = client.get(f"{API}/posts", headers=auth(keys["analyst"]))
    assert answer.status_code == 503 and "store is unavailable" in answer.json()["detail"]


def test_the_openapi_document_lists_the_routes_publicly(setup: Any) -> None:
    client, *_ = setup
    doc = client.get("/openapi.json").json()
    assert {f"{API}/posts", f"{API}/alerts", f"{API}/posts/{{post_key}}/spread"} <= set(doc["paths"])


def test_narratives_accounts_and_clusters(setup: Any) -> None:
    client, _, keys, _ = setup
    narrative = client.get(f"{API}/narratives/n-1", headers=auth(keys["analyst"])).json()
    assert narrative["representative_text"] == "post 0"
    assert narrative["timeline"] == [{"at": "2026-11-03T00:00:00.000Z", "posts": 2}]
    assert [p["key"] for p in narrative["earliest_posts"]] == ["twitter:0", "twitter:1"]
    hidden = client.get(f"{API}/narratives/n-1", headers=auth(keys["researcher"])).json()
    assert all(a.startswith("anon:") for a in hidden["accounts"])
    account = client.get(f"{API}/accounts/twitter:u1", headers=auth(keys["analyst"])).json()
    assert account["cluster_ids"] == ["c1"] and {p["author"]["id"] for p in account["posts"]} == {"u1"}
    assert client.get(f"{API}/accounts/twitter:nobody", headers=auth(keys["analyst"])).status_code == 404
    cluster = client.get(f"{API}/clusters/c1", headers=auth(keys["analyst"])).json()
    assert [w["window_end"][11:13] for w in cluster["windows"]] == ["12", "18"]
    assert (
        cluster["accounts"] == ["twitter:u1", "twitter:u2"]
        and cluster["edges"][0]["coactions"][0][2] == "https://x.example"
    )
    pseudo = client.get(f"{API}/clusters/c1", headers=auth(keys["researcher"])).json()
    assert "twitter:u1" not in json.dumps(pseudo) and pseudo["edges"][0]["source"].startswith("anon:")
    assert client.get(f"{API}/clusters/nope", headers=auth(keys["analyst"])).status_code == 404


def test_plots_come_as_png_or_svg_with_pseudonyms_for_researchers(setup: Any) -> None:
    from io import BytesIO

    from PIL import Image

    client, _, keys, _ = setup
    tree = client.get(f"{API}/posts/twitter:2/spread/plot", headers=auth(keys["analyst"]))
    assert tree.headers["content-type"] == "image/png" and Image.open(BytesIO(tree.content)).size[0] > 100
    timeline = client.get(f"{API}/posts/twitter:2/spread/plot?kind=timeline&format=svg", headers=auth(keys["analyst"]))
    assert timeline.headers["content-type"].startswith("image/svg+xml") and b"<svg" in timeline.content
    graph = client.get(f"{API}/clusters/c1/plot?format=svg", headers=auth(keys["analyst"])).content
    assert b"twitter:u1" in graph
    hidden = client.get(f"{API}/clusters/c1/plot?format=svg", headers=auth(keys["researcher"])).content
    assert b"twitter:u1" not in hidden and b"anon:" in hidden
    assert client.get(f"{API}/posts/twitter:3/spread/plot", headers=auth(keys["analyst"])).status_code == 404
    assert client.get(f"{API}/narratives/n-9/plot", headers=auth(keys["analyst"])).status_code == 404
    assert client.get(f"{API}/clusters/c1/plot?format=gif", headers=auth(keys["analyst"])).status_code == 422


def test_exports_open_in_the_tools_they_are_for_and_hide_accounts_from_researchers(setup: Any) -> None:
    import csv
    import io

    import networkx as nx  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq

    client, _, keys, _ = setup
    table = client.get(f"{API}/exports/posts?format=csv", headers=auth(keys["analyst"]))
    assert table.headers["content-disposition"] == 'attachment; filename="posts.csv"'
    read = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["key"] for r in read] == [f"twitter:{n}" for n in range(6, -1, -1)]
    parquet = client.get(f"{API}/exports/posts?format=parquet&limit=3", headers=auth(keys["analyst"])).content
    assert pq.read_table(io.BytesIO(parquet)).num_rows == 3
    gexf = client.get(f"{API}/posts/twitter:2/spread/export?format=gexf", headers=auth(keys["analyst"])).content
    tree = nx.read_gexf(io.BytesIO(gexf))
    assert tree.number_of_nodes() == 3 and tree.has_edge("twitter:0", "twitter:1")
    graphml = client.get(f"{API}/clusters/c1/export?format=graphml", headers=auth(keys["analyst"])).content
    assert set(nx.read_graphml(io.BytesIO(graphml)).nodes) == {"twitter:u1", "twitter:u2"}
    bundle = client.get(f"{API}/clusters/c1/export?format=stix", headers=auth(keys["analyst"])).json()
    assert bundle["type"] == "bundle" and any(o["type"] == "user-account" for o in bundle["objects"])
    for url in (
        f"{API}/exports/posts?format=jsonl",
        f"{API}/posts/twitter:2/spread/export?format=graphml",
        f"{API}/clusters/c1/export?format=stix",
        f"{API}/clusters/c1/export?format=csv",
    ):
        hidden = client.get(url, headers=auth(keys["researcher"]))
        assert hidden.status_code == 200, url
        assert b"u1" not in hidden.content.replace(b"post ", b"") and b"handle_" not in hidden.content, url
    assert client.get(f"{API}/clusters/nope/export", headers=auth(keys["analyst"])).status_code == 404
    assert client.get(f"{API}/exports/posts?format=xlsx", headers=auth(keys["analyst"])).status_code == 422


def test_a_case_gathers_items_and_notes_and_exports_a_verifiable_bundle(setup: Any, tmp_path: Path) -> None:
    from flockwatch.exports.bundle import verify_bundle
    from flockwatch.exports.stix import validate

    client, _, keys, _ = setup
    made = client.post(
        f"{API}/cases", json={"name": "Flood rumours", "description": "d"}, headers=auth(keys["analyst"])
    )
    assert made.status_code == 201
    case_id = made.json()["case_id"]
    for kind, ref in (("post", "twitter:1"), ("cascade", "twitter:2"), ("cluster", "c1"), ("narrative", "n-1"),
                      ("account", "twitter:u1"), ("alert", "a1"), ("post", "twitter:99")):  # fmt: skip
        added = client.post(
            f"{API}/cases/{case_id}/items", json={"kind": kind, "ref": ref}, headers=auth(keys["analyst"])
        )
        assert added.status_code == 200, added.text
    again = client.post(
        f"{API}/cases/{case_id}/items", json={"kind": "post", "ref": "twitter:1"}, headers=auth(keys["analyst"])
    )
    assert again.status_code == 409 and "already" in again.json()["detail"]
    bad = client.post(f"{API}/cases/{case_id}/items", json={"kind": "tweet", "ref": "x"}, headers=auth(keys["analyst"]))
    assert bad.status_code == 409 and "unknown item kind" in bad.json()["detail"]
    client.post(
        f"{API}/cases/{case_id}/notes",
        json={"text": "same text", "refs": ["post:twitter:1"]},
        headers=auth(keys["analyst"]),
    )
    case = client.get(f"{API}/cases/{case_id}", headers=auth(keys["researcher"])).json()
    assert [i["kind"] for i in case["items"]][:3] == ["post", "cascade", "cluster"] and case["notes"][0][
        "author"
    ] == "analyst person"
    assert client.get(f"{API}/cases", headers=auth(keys["analyst"])).json()["items"][0]["case_id"] == case_id
    [account] = [i["ref"] for i in case["items"] if i["kind"] == "account"]
    assert account.startswith("anon:")  # the researcher read it

    zipped = client.get(f"{API}/cases/{case_id}/export", headers=auth(keys["analyst"]))
    assert zipped.headers["content-disposition"] == f'attachment; filename="{case_id}.zip"'
    path = tmp_path / "bundle.zip"
    path.write_bytes(zipped.content)
    assert verify_bundle(path) == []
    import zipfile

    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        items = json.loads(z.read("items.json"))
    assert {
        "items.json",
        "media_hashes.json",
        "stix.json",
        "manifest.json",
        "files/cascade-1.png",
        "files/cluster-1.png",
    } <= names
    assert items["case"]["missing"] == ["post:twitter:99"]  # said, not silently dropped
    assert [p["key"] for p in items["items"]["posts"]] == ["twitter:1"] and items["items"]["alerts"][0][
        "alert_id"
    ] == "a1"
    report = client.get(f"{API}/cases/{case_id}/export?format=stix", headers=auth(keys["analyst"])).text
    assert validate(report)[0] == []
    hidden = client.get(f"{API}/cases/{case_id}/export", headers=auth(keys["researcher"])).content
    with zipfile.ZipFile(io.BytesIO(hidden)) as z:
        for name in z.namelist():
            assert b"twitter:u1" not in z.read(name) and b"handle_u1" not in z.read(name), name
    assert client.get(f"{API}/cases/case-nope00/export", headers=auth(keys["analyst"])).status_code == 404


def test_media_evidence_and_watchlists(setup: Any) -> None:
    client, store, keys, _ = setup
    verdict = {"media_url": "https://x.example/a.jpg", "manipulation_score": 0.91, "signals": [{"name": "c2pa"}]}
    store.engine.docs[IndexKind.posts]["twitter:1"]["media_by_url"] = {"h1": verdict}
    media = client.get(f"{API}/posts/twitter:1/media", headers=auth(keys["researcher"])).json()
    assert media["scores"] == [verdict]
    put = client.put(
        f"{API}/watchlists/flood", json={"name": "Flood  Watch", "handles": ["@floods"]}, headers=auth(keys["analyst"])
    )
    assert put.status_code == 200 and put.json()["name"] == "Flood Watch"
    listed = client.get(f"{API}/watchlists", headers=auth(keys["researcher"])).json()["items"]
    assert [e["id"] for e in listed] == ["flood"]
    bad = client.put(f"{API}/watchlists/Not%20a%20slug", json={"name": "x"}, headers=auth(keys["analyst"]))
    assert bad.status_code == 422 and "slug" in bad.json()["detail"]
    assert client.delete(f"{API}/watchlists/flood", headers=auth(keys["analyst"])).status_code == 200
    assert client.delete(f"{API}/watchlists/flood", headers=auth(keys["analyst"])).status_code == 404


def test_the_dashboard_page_is_public_and_holds_no_data(setup: Any) -> None:
    client, *_ = setup
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "twitter:" not in page.text and "post 0" not in page.text
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # Post text reaches the page only as text nodes: nothing in the script parses HTML.
    assert not re.search(r"(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|eval\(", script.text)
    assert client.get("/static/../app.py").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_an_alert_comes_with_its_brief_and_the_feed_says_what_each_is_about(setup: Any) -> None:
    client, store, keys, _ = setup
    alert = store.engine.docs[IndexKind.alerts]["a1"]
    alert.update(entity="narrative:n-1", narrative_id="n-1", post_keys=["twitter:0", "twitter:1"], severity="high")
    feed = client.get(f"{API}/alerts", headers=auth(keys["analyst"])).json()["items"]
    assert feed[0]["about"] == 'narrative "post 0" (n-1)'
    one = client.get(f"{API}/alerts/a1", headers=auth(keys["analyst"])).json()
    assert one["alert"]["alert_id"] == "a1" and one["brief"]["narrative"]["text"] == "post 0"
    assert {a["account"] for a in one["brief"]["accounts"]} == {"twitter:u1", "twitter:u2"}
    hidden = client.get(f"{API}/alerts/a1", headers=auth(keys["researcher"])).json()["brief"]
    assert len(hidden["accounts"]) == 2 and all(a["account"].startswith("anon:") for a in hidden["accounts"])
    assert all(p["handle"] is None for p in hidden["posts"])
    assert client.get(f"{API}/alerts/nope", headers=auth(keys["analyst"])).status_code == 404


def test_researchers_see_alerts_with_pseudonyms_and_scrubbed_texts(setup: Any) -> None:
    """An author rule's alert names its account in the entity and evidence and its author's @handle in the
    summary: a researcher sees each as the pseudonym the account has everywhere else."""
    client, store, keys, _ = setup
    store.engine.docs[IndexKind.alerts]["a1"].update(
        entity="author:twitter:u1",
        severity="high",
        summary="machine_text: author:twitter:u1: post twitter:1 by @handle_u1 (machine_text)",
        evidence=[{"signal": "coordinated", "score": 1.0, "on": "author:twitter:u1", "detail": "@u1 in c1"}],
        post_keys=["twitter:1", "twitter:3"],
    )
    analyst = client.get(f"{API}/alerts/a1", headers=auth(keys["analyst"])).json()
    assert "@handle_u1" in analyst["alert"]["summary"] and analyst["brief"]["about"] == "author:twitter:u1"
    alias = client.get(f"{API}/posts/twitter:1", headers=auth(keys["researcher"])).json()["author"]["id"]
    feed = client.get(f"{API}/alerts", headers=auth(keys["researcher"])).json()["items"]
    one = client.get(f"{API}/alerts/a1", headers=auth(keys["researcher"])).json()
    for shown in (feed[0], one["alert"]):
        assert shown["entity"] == f"author:{alias}" and shown["evidence"][0]["on"] == f"author:{alias}"
        assert shown["summary"] == f"machine_text: author:{alias}: post twitter:1 by @{alias} (machine_text)"
    assert feed[0]["about"] == f"author:{alias}" and one["brief"]["about"] == f"author:{alias}"
    assert one["brief"]["headline"] == f"high burst: author:{alias} (2 posts)"
    for text in (json.dumps(feed), json.dumps(one)):
        assert "twitter:u1" not in text and "handle_u" not in text and "@u1" not in text


def test_researchers_see_cluster_edge_ids_built_from_pseudonyms(setup: Any) -> None:
    client, store, keys, _ = setup
    store.engine.docs[IndexKind.coordination_edges]["e1"]["edge_id"] = "url|twitter:u1|twitter:u2"
    analyst = client.get(f"{API}/clusters/c1", headers=auth(keys["analyst"])).json()
    assert analyst["edges"][0]["edge_id"] == "url|twitter:u1|twitter:u2"  # as stored
    [edge] = client.get(f"{API}/clusters/c1", headers=auth(keys["researcher"])).json()["edges"]
    assert edge["edge_id"] == f"url|{edge['source']}|{edge['target']}" and edge["source"].startswith("anon:")


def test_a_naive_since_with_an_aware_until_is_a_search_not_a_crash(setup: Any) -> None:
    client, store, keys, _ = setup
    span = {"since": "2026-11-03T12:02:00", "until": "2026-11-03T12:05:00Z"}
    for url in (f"{API}/posts", f"{API}/exports/posts"):
        answer = client.get(url, params=span, headers=auth(keys["analyst"]))
        assert answer.status_code == 200, url
        assert {"range": {"created_at": {"gte": "2026-11-03T12:02:00+00:00", "lt": "2026-11-03T12:05:00+00:00"}}} in (
            store.engine.queries[-1]["bool"]["filter"]
        )
    backwards = client.get(
        f"{API}/posts", params={"since": "2026-11-04", "until": "2026-11-03T00:00Z"}, headers=auth(keys["analyst"])
    )
    assert backwards.status_code == 400


def test_a_cursor_the_engine_cannot_sort_by_and_a_query_it_refuses_are_400s(setup: Any) -> None:
    import base64

    from flockwatch.store.documents import StoreRequestError

    client, store, keys, _ = setup
    for values in (b'[NaN, "x"]', b'["x", "twitter:1"]', b"[1.5e300, 7]"):
        cursor = base64.urlsafe_b64encode(values).decode().rstrip("=")
        answer = client.get(f"{API}/posts", params={"next": cursor}, headers=auth(keys["analyst"]))
        assert answer.status_code == 400 and "cursor" in answer.json()["detail"], values

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise StoreRequestError(400, "failed to parse date field [x]")

    store.engine.hits = refuse
    refused = client.get(f"{API}/posts", headers=auth(keys["analyst"]))
    assert refused.status_code == 400 and "failed to parse date field" in refused.json()["detail"]


def test_a_cut_audit_line_leaves_the_audit_route_answering(setup: Any) -> None:
    client, _, keys, settings = setup
    client.get(f"{API}/posts", headers=auth(keys["analyst"]))
    _, audit = api_paths(settings)
    with audit.path.open("ab") as log:
        log.write(b'{"truncated\n')
    trail = client.get(f"{API}/audit", headers=auth(keys["admin"]))
    assert trail.status_code == 200
    assert trail.json()["items"][0] == {"unreadable": '{"truncated'} and trail.json()["broken_at_line"] == 2


def test_a_researchers_words_match_post_text_only(setup: Any) -> None:
    client, store, keys, _ = setup
    for role, fields in (("analyst", ["text", "author.display_name"]), ("researcher", ["text"])):
        for url in (f"{API}/posts", f"{API}/exports/posts"):
            assert client.get(url, params={"q": "Name u1"}, headers=auth(keys[role])).status_code == 200
            assert store.engine.queries[-1]["bool"]["must"][0]["simple_query_string"]["fields"] == fields, (role, url)


def test_a_posts_export_is_audited_with_its_filters(setup: Any) -> None:
    client, _, keys, settings = setup
    params = {"q": "post", "platform": "twitter", "since": "2026-11-03T12:00:00Z", "format": "jsonl", "limit": 5}
    assert client.get(f"{API}/exports/posts", params=params, headers=auth(keys["analyst"])).status_code == 200
    _, audit = api_paths(settings)
    [entry] = audit.tail(1)
    assert entry["action"] == "export_posts" and entry["detail"]["format"] == "jsonl"
    assert entry["detail"]["filters"] == {"q": "post", "platforms": ["twitter"], "since": "2026-11-03T12:00:00+00:00"}
    assert entry["detail"]["limit"] == 5


def test_a_handle_no_stored_post_or_account_maps_is_withheld_from_researchers(setup: Any) -> None:
    """The summary names its post's author, but the post is gone (retention) and the account since renamed."""
    client, store, keys, _ = setup
    summary = "machine_text: narrative:n-1: post twitter:99 by @old_name (machine_text)"
    store.engine.docs[IndexKind.alerts]["a1"].update(entity="narrative:n-1", summary=summary, post_keys=["twitter:99"])
    assert client.get(f"{API}/alerts/a1", headers=auth(keys["analyst"])).json()["alert"]["summary"] == summary
    feed = client.get(f"{API}/alerts", headers=auth(keys["researcher"])).json()["items"]
    one = client.get(f"{API}/alerts/a1", headers=auth(keys["researcher"])).json()
    for shown in (feed[0]["summary"], one["alert"]["summary"], one["brief"]["summary"]):
        assert shown == "machine_text: narrative:n-1: post twitter:99 by @[withheld] (machine_text)"


def test_researchers_see_post_urls_without_the_handles_they_name(setup: Any) -> None:
    """A post's links name accounts (``twitter.com/<handle>/status/...``): a researcher sees the author's pseudonym
    there, ``[withheld]`` for an account the page does not know, and links that name nobody as they are."""
    client, store, keys, _ = setup
    doc = store.engine.docs[IndexKind.posts]["twitter:1"]
    doc.update(
        url="https://twitter.com/handle_u1/status/1",
        urls=["https://x.com/handle_u2/status/2", "https://twitter.com/stranger/status/3", "https://ex.example/a"],
        media=[{"url": "https://mastodon.social/@stranger/media/1.jpg", "kind": "image"}],
        media_by_url={"h1": {"media_url": "https://twitter.com/handle_u1/photo/1", "manipulation_score": 0.9}},
        source={"format": "test", "uri": "https://twitter.com/i/web/status/1"},
    )
    store.engine.docs[IndexKind.alerts]["a1"].update(entity="narrative:n-1", post_keys=["twitter:1"])
    store.engine.docs[IndexKind.narratives]["n-1"]["urls"] = ["https://twitter.com/handle_u1/status/1"]
    edge = store.engine.docs[IndexKind.coordination_edges]["e1"]
    edge["coactions"][0][2] = "https://x.com/stranger/status/4"
    for window in store.engine.docs[IndexKind.clusters].values():
        window["examples"] = ["twitter:1>twitter:2 dt=+1s https://x.com/stranger/status/4"]
        window["top_content"] = [{"kind": "co_link", "object": "https://x.com/stranger/status/4", "coactions": 2}]
    analyst = client.get(f"{API}/posts/twitter:1", headers=auth(keys["analyst"])).json()
    assert analyst["url"] == doc["url"] and analyst["urls"] == doc["urls"]  # as stored

    page = client.get(f"{API}/posts", headers=auth(keys["researcher"])).json()["items"]
    shown = next(p for p in page if p["key"] == "twitter:1")
    u1 = shown["author"]["id"]
    u2 = next(p["author"]["id"] for p in page if p["author"]["id"] != u1)  # known from its own post on the page
    assert shown["url"] == f"https://twitter.com/{u1}/status/1"
    assert shown["urls"] == [
        f"https://x.com/{u2}/status/2",
        "https://twitter.com/[withheld]/status/3",
        "https://ex.example/a",
    ]
    assert shown["media"][0]["url"] == "https://mastodon.social/@[withheld]/media/1.jpg"
    assert shown["source"]["uri"] == "https://twitter.com/i/web/status/1"  # names no account: still usable
    one = client.get(f"{API}/posts/twitter:1", headers=auth(keys["researcher"])).json()
    assert one["url"] == shown["url"] and one["media_by_url"]["h1"]["media_url"] == f"https://twitter.com/{u1}/photo/1"
    media = client.get(f"{API}/posts/twitter:1/media", headers=auth(keys["researcher"])).json()
    assert media["scores"][0]["media_url"] == f"https://twitter.com/{u1}/photo/1"
    assert media["verdicts"][0]["media_url"] == f"https://twitter.com/{u1}/photo/1"
    brief = client.get(f"{API}/alerts/a1", headers=auth(keys["researcher"])).json()["brief"]
    assert brief["posts"][0]["url"] == f"https://twitter.com/{u1}/status/1"
    assert brief["media"][0]["media_url"] == f"https://twitter.com/{u1}/photo/1"
    narrative = client.get(f"{API}/narratives/n-1", headers=auth(keys["researcher"])).json()
    assert narrative["urls"] == [f"https://twitter.com/{u1}/status/1"]
    cluster = client.get(f"{API}/clusters/c1", headers=auth(keys["researcher"])).json()
    assert cluster["edges"][0]["coactions"][0][2] == "https://x.com/[withheld]/status/4"
    assert {w["top_content"][0]["object"] for w in cluster["windows"]} == {"https://x.com/[withheld]/status/4"}
    assert {w["examples"][0] for w in cluster["windows"]} == {
        "twitter:1>twitter:2 dt=+1s https://x.com/[withheld]/status/4"
    }
    exports = [
        client.get(f"{API}/exports/posts?format={fmt}", headers=auth(keys["researcher"])).text
        for fmt in ("csv", "jsonl")
    ]
    assert f"https://x.com/{u2}/status/2" in exports[1] and "@[withheld]/media/1.jpg" in exports[0]
    for text in (
        json.dumps(page),
        json.dumps(one),
        json.dumps(media),
        json.dumps(brief),
        json.dumps(narrative),
        json.dumps(cluster),
        *exports,
    ):
        assert "handle_u" not in text and "stranger" not in text
