"""The dotted-path getter the plots and the export tables share."""

from __future__ import annotations

from flockwatch.dotted import dotted_get

DOC = {"author": {"id": "u1", "handle": None}, "text_score": {"machine_score": 0.5}, "media": ["a"], "n": 3}


def test_nested_values_and_none_where_a_level_is_missing_or_not_a_mapping() -> None:
    assert dotted_get(DOC, "author.id") == "u1"
    assert dotted_get(DOC, "text_score.machine_score") == 0.5
    assert dotted_get(DOC, "n") == 3
    assert dotted_get(DOC, "author") == {"id": "u1", "handle": None}
    for missing in (
        "author.handle",
        "author.followers",
        "nothing.at.all",
        "media.0",
        "n.x",
        "text_score.machine_score.x",
    ):
        assert dotted_get(DOC, missing) is None, missing
