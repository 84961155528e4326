"""Cases: what they accept, each item once, notes, and the refusals with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.cases import ITEM_KINDS, CaseError, check_item, new_case, refs_of, with_item, with_note

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_a_case_collects_each_item_once_with_who_and_when() -> None:
    case = new_case("  Flood rumours ", "ballots in a river", "ana", NOW)
    assert case["case_id"].startswith("case-") and case["name"] == "Flood rumours" and case["items"] == []
    case |= with_item(case, "post", "twitter:1", "ana", NOW, note="first copy")
    case |= with_item(case, "cluster", "c-17", "bo", NOW)
    assert [(i["kind"], i["ref"], i["added_by"]) for i in case["items"]] == [
        ("post", "twitter:1", "ana"),
        ("cluster", "c-17", "bo"),
    ]
    assert case["items"][0]["note"] == "first copy" and refs_of(case, "post") == ["twitter:1"]
    with pytest.raises(CaseError, match="already"):
        with_item(case, "post", "twitter:1", "bo", NOW)
    case |= with_note(case, "same wording", "ana", NOW, ["post:twitter:1"])
    case |= with_note(case, "second", "bo", NOW)
    assert [n["note_id"] for n in case["notes"]] == ["note-1", "note-2"] and case["notes"][0]["refs"] == [
        "post:twitter:1"
    ]
    assert new_case("x", "", "ana", NOW)["case_id"] != new_case("x", "", "ana", NOW)["case_id"]


@pytest.mark.parametrize(
    ("kind", "ref", "says"),
    [("tweet", "twitter:1", "unknown item kind"), ("post", "1234", "platform:id"), ("account", "", "1 to 1000"),
     ("narrative", "n\n1", "one line")],
)  # fmt: skip
def test_refusals_say_why(kind: str, ref: str, says: str) -> None:
    with pytest.raises(CaseError, match=says):
        check_item(kind, ref)
    with pytest.raises(CaseError, match="1 to 200"):
        new_case(" ", "", "ana", NOW)
    with pytest.raises(CaseError, match="note is"):
        with_note(new_case("x", "", "a", NOW), "  ", "a", NOW)


@given(kind=st.sampled_from(ITEM_KINDS), ref=st.text(max_size=50))
def test_any_ref_is_accepted_or_refused_with_a_case_error(kind: str, ref: str) -> None:
    try:
        check_item(kind, ref)
    except CaseError:
        return
    case = new_case("x", "", "a", NOW)
    assert with_item(case, kind, ref, "a", NOW)["items"][0]["ref"] == ref
