"""The cascade tree and the reshare timeline, read back from the SVG and PNG they return."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flockwatch.plots import cascade_posts, cascade_tree, cumulative_reshares, render, reshare_timeline
from tests.unit.plots.helpers import (
    T0,
    chain_cascade,
    group_xml,
    has_group,
    markers,
    path_points,
    paths,
    png_size,
    texts,
    tick_y,
)

SCRIPT = "<script>alert(1)</script>"


def post(key: str, author: str, text: str = "", machine: float | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "key": key,
        "platform": "tw",
        "author": {"id": author, "handle": f"h_{author}"},
        "text": text,
    }
    if machine is not None:
        doc["text_score"] = {"machine_score": machine, "label": "machine" if machine >= 0.5 else "human"}
    return doc | extra


def test_tree_draws_one_node_per_post_and_one_edge_per_reshare() -> None:
    svg = cascade_tree(chain_cascade(13), fmt="svg")
    assert markers(svg, "cascade-nodes") == 13
    assert paths(svg, "cascade-edges") == 12
    assert markers(svg, "cascade-root") == 1
    assert any("13 posts, depth 2" in t for t in texts(svg))
    assert not has_group(svg, "note")  # nothing left out, nothing to say


def test_a_single_post_is_a_tree_of_one() -> None:
    svg = cascade_tree({"cascade_id": "tw:1", "events": [["tw:1", None, T0, "tw:a"]]}, fmt="svg")
    assert markers(svg, "cascade-nodes") == 1
    assert paths(svg, "cascade-edges") == 0


def test_png_decodes_at_the_figure_size() -> None:
    assert png_size(cascade_tree(chain_cascade(13), fmt="png")) == (1000, 600)


def test_same_input_same_bytes() -> None:
    cascade, posts = chain_cascade(40), [post("tw:0", "a", "hello", 0.8)]
    for fmt in ("svg", "png"):
        assert cascade_tree(cascade, posts, fmt) == cascade_tree(cascade, posts, fmt)
    # and the SVG carries no date
    assert b"<dc:date>" not in cascade_tree(cascade, posts, "svg")


def test_a_large_cascade_is_capped_and_says_so() -> None:
    svg = cascade_tree(chain_cascade(10_000), fmt="svg", max_nodes=300)
    assert markers(svg, "cascade-nodes") == 300
    assert paths(svg, "cascade-edges") == 299
    shown = texts(svg)
    assert "showing the earliest 300 of 10000 posts" in shown
    # the title counts the whole cascade, depth included (not just the drawn part)
    assert any("10000 posts, depth 9" in t for t in shown)


def test_the_cap_keeps_the_earliest_posts_and_their_parents() -> None:
    # a late child of the root comes after early grandchildren: the cap takes by time, parents first
    cascade = {
        "cascade_id": "tw:r",
        "events": [
            ["tw:r", None, T0, "tw:a"],
            ["tw:x", "tw:r", T0 + 1, "tw:b"],
            ["tw:y", "tw:x", T0 + 2, "tw:c"],
            ["tw:late", "tw:r", T0 + 100, "tw:d"],
        ],
    }
    svg = cascade_tree(cascade, fmt="svg", max_nodes=3)
    labels = texts(svg)
    assert "tw:c" in labels and "tw:d" not in labels  # small trees label every node


def test_a_deep_chain_draws_without_recursion() -> None:
    svg = cascade_tree(chain_cascade(5_000, branching=1), fmt="svg", max_nodes=5_000)
    assert markers(svg, "cascade-nodes") == 5_000


def test_missing_root_is_drawn_as_a_placeholder() -> None:
    cascade = {
        "cascade_id": "tw:gone",
        "events": [["tw:1", "tw:gone", T0 + 60, "tw:a"], ["tw:2", "tw:1", T0 + 90, None]],
    }
    svg = cascade_tree(cascade, fmt="svg")
    assert markers(svg, "cascade-nodes") == 3
    assert any("(root not collected)" in t for t in texts(svg))


def test_posts_in_a_parent_cycle_are_left_out_and_counted() -> None:
    cascade = {
        "cascade_id": "tw:r",
        "events": [["tw:r", None, T0, "tw:a"], ["tw:p", "tw:q", T0 + 1, "tw:b"], ["tw:q", "tw:p", T0 + 2, "tw:c"]],
    }
    svg = cascade_tree(cascade, fmt="svg")
    assert markers(svg, "cascade-nodes") == 1
    assert "2 posts in a parent cycle not drawn" in texts(svg)


def test_nodes_are_coloured_by_score_where_there_is_one() -> None:
    cascade = chain_cascade(4)
    scored = cascade_tree(cascade, [post("tw:1", "a", machine=0.0), post("tw:2", "b", machine=1.0)], "svg")
    colours = re.findall(r"fill: (#[0-9a-f]{6})", group_xml(scored, "cascade-nodes"))
    assert colours.count("#bdbdbd") == 2  # root and tw:3 unscored
    assert "#440154" in colours and "#fde725" in colours  # viridis ends: 0 and 1
    assert any("machine-text score" in t for t in texts(scored))
    unscored = cascade_tree(cascade, (), "svg")
    assert not any("machine-text score" in t for t in texts(unscored))


def test_media_scores_colour_too() -> None:
    svg = cascade_tree(chain_cascade(3), [{"key": "tw:1", "media_risk": 1.0}], "svg", score="media")
    assert "#fde725" in group_xml(svg, "cascade-nodes")
    assert any("media manipulation score" in t for t in texts(svg))


def test_root_text_is_escaped_not_markup() -> None:
    svg = cascade_tree(chain_cascade(5), [post("tw:0", "a", f"{SCRIPT} costs $5 and $10 \x00\u202e!")], "svg")
    assert b"<script" not in svg
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    shown = [t for t in texts(svg) if "alert" in t]
    assert shown == ["@h_a: “<script>alert(1)</script> costs $5 and $10 !”"]  # dollars literal, controls dropped


def test_root_excerpt_is_shortened() -> None:
    svg = cascade_tree(chain_cascade(3), [post("tw:0", "a", "word " * 500)], "svg")
    excerpt = next(t for t in texts(svg) if t.startswith("@h_a"))
    assert excerpt.endswith("…”") and len(excerpt) < 100


def test_pseudonymise_replaces_every_account_label() -> None:
    cascade = chain_cascade(8)
    posts = [post("tw:0", "author-0", "root text"), post("tw:3", "author-3")]
    svg = cascade_tree(cascade, posts, "svg", pseudonymise=lambda a: "p-" + str(abs(hash(a)) % 1000))
    body = svg.decode()
    assert "author-" not in body and "h_author" not in body
    assert sum(1 for t in texts(svg) if t.startswith("p-")) == 8


@pytest.mark.parametrize(
    ("cascade", "match"),
    [
        ({"cascade_id": "tw:1", "events": []}, "no events"),
        ({"cascade_id": "tw:1"}, "no events"),
        ({"cascade_id": "tw:1", "events": [["tw:1", None, "not a time", "tw:a"], "junk", [1]]}, "no events"),
    ],
)
def test_nothing_to_draw_is_an_error(cascade: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cascade_tree(cascade, fmt="svg")


def test_bad_options_are_errors() -> None:
    with pytest.raises(ValueError, match="format"):
        cascade_tree(chain_cascade(2), fmt="gif")
    with pytest.raises(ValueError, match="max_nodes"):
        cascade_tree(chain_cascade(2), fmt="svg", max_nodes=0)


def test_time_axis_layout() -> None:
    svg = cascade_tree(chain_cascade(7), fmt="svg", x="time")
    assert "hours since the root post" in texts(svg)
    assert markers(svg, "cascade-nodes") == 7


# --- timeline ----------------------------------------------------------------------------------------------


def test_cumulative_reshares_count_every_post_but_the_root() -> None:
    posts = cascade_posts(chain_cascade(25))
    start, offsets, skipped = cumulative_reshares(posts)
    assert start == T0 and skipped == 0
    assert len(offsets) == 24 and offsets == sorted(offsets) and offsets[-1] == 24 * 600


def test_the_root_is_the_named_post_else_the_parentless_one() -> None:
    posts = [
        {"key": "tw:early-reply", "created_at": "2024-01-01T00:00:00Z", "parent_key": "tw:r"},
        {"key": "tw:r", "created_at": "2024-01-01T00:01:00Z"},
        {"key": "tw:s", "created_at": "2024-01-01T00:02:00Z", "parent_key": "tw:r"},
    ]
    assert cumulative_reshares(posts)[1] == [-60.0, 60.0]
    assert cumulative_reshares(posts, root_key="tw:s")[1] == [-120.0, -60.0]


def test_timeline_shows_the_count_and_the_first_hour() -> None:
    svg = reshare_timeline(cascade_posts(chain_cascade(25)), "svg")  # reshares every 10 min
    shown = texts(svg)
    assert "24 reshares over 4.0 h" in shown
    assert "first hour: 6 reshares" in shown
    assert paths(svg, "first-hour") == 1
    # the step curve: a point per reshare plus the start, two vertices per step
    assert len(path_points(svg, "reshare-steps")) == 2 * 25 - 1


def test_timeline_last_step_is_the_number_of_reshares() -> None:
    svg = reshare_timeline(cascade_posts(chain_cascade(25)), "svg")
    ys = [y for _, y in path_points(svg, "reshare-steps")]
    assert min(ys) == ys[-1]  # it ends at its top (SVG y grows downwards): cumulative
    top_tick = tick_y(svg, "24")  # ... which is where the axis puts 24
    assert top_tick is not None and abs(top_tick - ys[-1]) < 0.5


def test_timeline_thins_long_histories_and_keeps_the_last_count() -> None:
    posts = [{"key": "tw:r", "created_at": T0}] + [
        {"key": f"tw:{i}", "created_at": T0 + i, "parent_key": "tw:r"} for i in range(1, 20_001)
    ]
    svg = reshare_timeline(posts, "svg", max_steps=100)
    assert len(path_points(svg, "reshare-steps")) == 2 * 100 - 1
    assert "20000 reshares over 5.6 h" in texts(svg)


def test_timeline_switches_to_days_and_counts_unreadable_times() -> None:
    posts: list[dict[str, Any]] = [
        {"key": "r", "created_at": T0},
        {"key": "a", "created_at": T0 + 10 * 86400},
        {"key": "b"},
    ]
    svg = reshare_timeline(posts, "svg", root_key="r")
    assert "days since the root post" in texts(svg)
    assert "1 posts without a readable time left out" in texts(svg)


def test_timeline_is_deterministic_and_a_png() -> None:
    posts = cascade_posts(chain_cascade(30))
    assert reshare_timeline(posts, "svg") == reshare_timeline(posts, "svg")
    png = reshare_timeline(posts, "png")
    assert png == reshare_timeline(posts, "png") and png_size(png) == (900, 450)


def test_timeline_needs_a_time() -> None:
    with pytest.raises(ValueError, match="created_at"):
        reshare_timeline([], "svg")
    with pytest.raises(ValueError, match="created_at"):
        reshare_timeline([{"key": "x", "created_at": "yesterday"}], "svg")


def test_render_dispatches_by_name() -> None:
    cascade = chain_cascade(6)
    assert render("cascade_tree", {"cascade": cascade}, "svg") == cascade_tree(cascade, fmt="svg")
    assert render("reshare_timeline", {"posts": cascade_posts(cascade)}, "png") == reshare_timeline(
        cascade_posts(cascade), "png"
    )
    with pytest.raises(ValueError, match="unknown plot"):
        render("pie", {}, "svg")
    with pytest.raises(ValueError, match="needs 'cascade'"):
        render("cascade_tree", {"posts": []}, "svg")
    with pytest.raises(ValueError, match="not extra"):
        render("cascade_tree", {"cascade": cascade, "extra": 1}, "svg")
