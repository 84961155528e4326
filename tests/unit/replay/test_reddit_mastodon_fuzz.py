"""10,000 mutated real payloads per format through the ``reddit`` and ``mastodon`` normalisers and the file sink.

Each example takes a real recorded child/status and changes one to three places in it (any depth): a value
replaced by arbitrary JSON or a value of another field, a key deleted, a string truncated, or (Mastodon) the
connector's context changed. The properties: normalising gives a ``Post``, ``None`` or a ``ValueError`` (never
another exception); through ``FileSink`` a post is written once per key, and every reject lands in the
dead-letter file with its reason and the original record.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.adapters.connectors.sink import FileSink, reject_reason
from flockwatch.config import Settings
from flockwatch.messages import describe_error
from flockwatch.replay import normalize_record
from flockwatch.schema import DeadLetter, Post, RawRecord
from tests.mutations import json_paths, json_values
from tests.platform_servers.cassettes import mastodon_statuses, reddit_children

DATA = Settings().data_dir / "connectors"

EXAMPLES = 10_000
JSON = json_values(
    ["", " ", "0", "-1", "1e400", "nan", "[deleted]", "[removed]", "t1_abc", "t3_", "t9_x", "more", "Listing",
     "2026-08-01T13:55:55.867Z", "1456821519.0", "<p>x</p>", "<![x[", "&amp;", "https://i.redd.it/a.jpg",
     "http://localhost:3000/ap/users/1/statuses/2", "public", "private", "direct", "gifv", "@a@b", "a@"],
    key_size=6,
    leaves=5,
)  # fmt: skip


def flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for child in items:
        out.append(child)
        replies = child["data"].get("replies")
        if isinstance(replies, dict):
            out += flat(replies["data"]["children"])
    return out


def _reddit() -> list[dict[str, Any]]:
    if not (DATA / "reddit").is_dir():
        return []
    found = [c for items in reddit_children(DATA / "reddit").values() for c in flat(items)]
    # Today's shapes too (gallery, video, crosspost), so mutations reach that code.
    modern = copy.deepcopy(found[0])
    modern["data"].update(
        is_self=False, is_gallery=True, crosspost_parent="t3_abc", num_crossposts=2, url="https://v.redd.it/x",
        gallery_data={"items": [{"media_id": "m1", "caption": "c"}]},
        media_metadata={"m1": {"e": "Image", "m": "image/png", "s": {"u": "https://preview.redd.it/m1.png"}}},
        secure_media={"reddit_video": {"fallback_url": "https://v.redd.it/x/DASH_1.mp4"}},
        preview={"images": [{"source": {"url": "https://external-preview.redd.it/p.jpg"}}]},
    )  # fmt: skip
    return [*found[::7], *[c for c in found if c["kind"] == "t1"], modern]


def _mastodon() -> list[dict[str, Any]]:
    if not (DATA / "mastodon").is_dir():
        return []
    found = [s for items in mastodon_statuses(DATA / "mastodon").values() for s in items]
    modern = copy.deepcopy(found[0])
    modern.update(
        spoiler_text="cw", in_reply_to_id="5", card={"url": "https://n.example/a", "image": "https://n.example/i.jpg"},
        media_attachments=[{"type": "image", "url": "https://f.example/a.png", "description": "alt"}],
        quote={"state": "accepted", "quoted_status": copy.deepcopy(found[1])},
        mentions=[{"acct": "bob@remote.example"}], tags=[{"name": "tag"}],
    )  # fmt: skip
    tag = {"name": "hoot", "url": "http://localhost:3000/tags/hoot", "history": [{"day": "1", "uses": "2"}]}
    return [*found, modern, tag]


REDDIT = _reddit()
MASTODON = _mastodon()
CONTEXT_VALUES: dict[str, list[Any]] = {
    "instance": ["localhost:3000", "https://mastodon.social", "", 5],
    "in_reply_to_uri": ["https://a.example/s/1", "", None],
    "quote_uri": ["https://a.example/s/2", 3],
    "entity": ["tag", "link", "status"],
}


@st.composite
def mutated(draw: st.DrawFn, pool: list[dict[str, Any]], fmt: str) -> RawRecord:
    payload = copy.deepcopy(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(payload, max_items=4)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = payload
        for step in path[:-1]:
            parent = parent[step]
        how = draw(st.sampled_from(["replace", "delete", "truncate", "borrow"]))
        old = parent[path[-1]]
        if how == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "truncate" and isinstance(old, str):
            parent[path[-1]] = old[: draw(st.integers(0, max(0, len(old) - 1)))]
        elif how == "borrow" and (others := [v for p in paths if (v := _at(payload, p)) is not old]):
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(others)))  # a value of another field
        else:
            parent[path[-1]] = draw(JSON)
    context: dict[str, Any] = {}
    if fmt == "mastodon":
        for key in draw(st.lists(st.sampled_from(sorted(CONTEXT_VALUES)), max_size=2, unique=True)):
            context[key] = draw(st.sampled_from(CONTEXT_VALUES[key]))
    return RawRecord(format=fmt, source_uri="fuzz", position="1", payload=payload, context=context)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def check_through_the_sink(fmt: str, pool: list[dict[str, Any]], folder: Path) -> dict[str, int]:
    """Run ``EXAMPLES`` mutated records of ``fmt`` through normalisation and one ``FileSink``."""
    sink = FileSink(folder / f"{fmt}.jsonl")
    counts = {"post": 0, "none": 0, "rejected": 0}
    rejects: list[tuple[str, bytes]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(record=mutated(pool, fmt))
    def one(record: RawRecord) -> None:
        error: ValueError | None = None
        try:
            outcome = normalize_record(record)
        except ValueError as exc:  # pydantic's ValidationError included
            error = exc
        dead_before = sink.dead_letters
        seen_before = set(sink.seen)
        written, reasons = sink.write([record])
        if error is not None:
            counts["rejected"] += 1
            assert sink.dead_letters == dead_before + 1 and written == 0
            assert reasons == {reject_reason(describe_error(error)): 1}
            rejects.append((describe_error(error), record.to_bytes()))
        elif outcome is None:
            counts["none"] += 1
            assert (written, reasons, sink.dead_letters) == (0, {}, dead_before)
        else:
            assert isinstance(outcome, Post)
            counts["post"] += 1
            assert written == (0 if outcome.key in seen_before else 1) and reasons == {}

    one()
    sink.close()
    letters = [DeadLetter.model_validate_json(line) for line in sink.dead_path.read_text(encoding="utf-8").splitlines()]
    assert len(letters) == len(rejects) == counts["rejected"]
    for letter, (reason, original) in zip(letters, rejects, strict=True):
        assert reason in letter.reason and letter.original() == original
    written_keys = [json.loads(line)["platform_id"] for line in sink.path.read_text(encoding="utf-8").splitlines()]
    assert len(written_keys) == len(set(written_keys))
    return counts


def test_reddit_payloads_mutated_10000_times(tmp_path: Path) -> None:
    counts = check_through_the_sink("reddit", REDDIT, tmp_path)
    assert sum(counts.values()) >= EXAMPLES
    assert counts["post"] and counts["rejected"], counts  # both outcomes are reached


def test_mastodon_payloads_mutated_10000_times(tmp_path: Path) -> None:
    counts = check_through_the_sink("mastodon", MASTODON, tmp_path)
    assert sum(counts.values()) >= EXAMPLES
    assert counts["post"] and counts["rejected"] and counts["none"], counts
