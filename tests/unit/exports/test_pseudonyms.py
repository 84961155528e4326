"""The researcher role: with ``pseudonymise`` no raw author id or handle survives in any export format."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.exports import graph_files, pseudonyms, stix, tables
from flockwatch.exports.bundle import write_bundle
from tests.unit.exports.case_data import ACCOUNTS, HANDLES, RAW_IDS, case_items, fake_pseudonym

SECRETS = RAW_IDS + HANDLES
CASE = {"case_id": "k-1", "name": "Case", "created_at": "2024-05-01T00:00:00Z"}


def assert_clean(text: str) -> None:
    leaks = [s for s in SECRETS if s in text]
    assert not leaks, f"raw ids leaked: {leaks}"


def test_the_fixture_does_leak_without_pseudonyms() -> None:
    """The check can fail: without pseudonymise every format carries the raw ids."""
    items = case_items()
    text = stix.dumps(stix.case_bundle(CASE, items))
    with pytest.raises(AssertionError):
        assert_clean(text)


def test_graph_files_carry_no_raw_id() -> None:
    items = case_items()
    cluster = graph_files.cluster_graph(
        items["clusters"][0], items["edges"], items["accounts"], pseudonymise=fake_pseudonym
    )
    cascade = graph_files.cascade_graph(items["cascades"][0], items["posts"], pseudonymise=fake_pseudonym)
    assert set(cluster.nodes) == {fake_pseudonym(a) for a in ACCOUNTS[:3]}
    for g in (cluster, cascade):
        for fmt in ("gexf", "graphml"):
            assert_clean(graph_files.write_graph(g, fmt).decode("utf-8"))


@pytest.mark.parametrize("kind", list(tables.COLUMNS))
def test_tables_carry_no_raw_id(kind: str) -> None:
    docs = case_items()[{"cascade_events": "cascades", "edges": "edges"}.get(kind, kind)]
    out = tables.rows(kind, docs, pseudonymise=fake_pseudonym)
    assert_clean(tables.to_csv(out, kind).decode("utf-8"))
    assert_clean(tables.to_jsonl(out, kind).decode("utf-8"))
    back = pq.read_table(io.BytesIO(tables.to_parquet(out, kind))).to_pylist()
    assert_clean(json.dumps(back, default=str))
    if kind == "posts":
        assert out[0]["author_id"] == fake_pseudonym(ACCOUNTS[0]) and out[0]["author_handle"] is None
        assert out[0]["mentions"] == fake_pseudonym(ACCOUNTS[1])


def test_stix_bundles_carry_no_raw_id() -> None:
    items = case_items()
    case = stix.case_bundle(CASE, items, pseudonymise=fake_pseudonym)
    assert stix.validate(case)[0] == []
    assert_clean(stix.dumps(case))
    cluster = stix.cluster_bundle(
        items["clusters"][0], items["edges"], items["accounts"], items["posts"], pseudonymise=fake_pseudonym
    )
    assert_clean(stix.dumps(cluster))
    users = {o["user_id"] for o in case["objects"] if o["type"] == "user-account"}
    assert users == {fake_pseudonym(a) for a in ACCOUNTS}


def test_evidence_bundle_carries_no_raw_id(tmp_path: Path) -> None:
    path = write_bundle(CASE, case_items(), tmp_path / "b.zip", {"plot.svg": b"<svg/>"}, pseudonymise=fake_pseudonym)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            assert_clean(z.read(name).decode("utf-8"))
        items = json.loads(z.read("items.json"))["items"]
    alert = items["alerts"][0]
    assert f"@{fake_pseudonym(ACCOUNTS[0])}" in alert["summary"]
    assert alert["entity"] == f"account:{fake_pseudonym(ACCOUNTS[0])}"


@given(
    st.lists(st.sampled_from(["twitter:ab", "twitter:abc", "reddit:ab"]), min_size=1, max_size=4),
    st.text(alphabet="abc :@x-", max_size=30),
)
def test_scrubber_replaces_whole_tokens_only(keys: list[str], noise: str) -> None:
    scrub = pseudonyms.Scrubber.from_items(fake_pseudonym, {"accounts": [{"key": k} for k in keys]})
    for key in keys:
        text = f"{noise} {key} {noise}"
        out = scrub.text(text)
        assert f" {fake_pseudonym(key)} " in out
        # a longer token that merely starts with a key is left alone
        assert scrub.text(key + "zz") == key + "zz"


def test_cascade_history_evidence_names_pseudonyms_only() -> None:
    cascade = case_items()["cascades"][0]
    assert ACCOUNTS[1] in cascade["resharer_history"]["explanation"]  # the fixture names raw accounts
    out = pseudonyms.cascade(cascade, fake_pseudonym)
    assert_clean(json.dumps(out))
    shown = out["resharer_history"]
    assert [f["account"] for f in shown["flagged_resharers"]] == [
        fake_pseudonym(ACCOUNTS[1]),
        fake_pseudonym(ACCOUNTS[2]),
    ]
    assert fake_pseudonym(ACCOUNTS[1]) in shown["explanation"]
