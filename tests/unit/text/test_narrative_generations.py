"""The stream's narrative index forgets in generations: bounded memory, active narratives kept, replays exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from flockwatch.text.canonical import canonical_text, copy_form
from flockwatch.text.narratives import Assignment, NarrativeConfig, NarrativeIndex, narrative_id_for

SIZE = 5
GEN = NarrativeConfig(generation_forms=SIZE)


def unit(seed: int) -> NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


def filler(n: int) -> str:
    """A distinct post of eight words that shares no two-word shingle with any other filler."""
    return canonical_text(" ".join(f"filler{n}x{k}" for k in range(8)))


CAMPAIGN = canonical_text("They are hiding the real vote counts in three swing states tonight")
EDITED = canonical_text("They are hiding the real vote counts in three swing states tonight share now")
VEC = unit(10_000)
PARAPHRASE_VEC = (VEC * 0.97 + unit(10_001) * 0.2431).astype(np.float32)  # cosine 0.97 to VEC


def test_distinct_posts_keep_at_most_two_generations() -> None:
    index = NarrativeIndex(GEN, track_stats=False)
    for n in range(60):
        index.assign(filler(n), unit(n), item_id=f"p{n}")
        assert index.forms <= 2 * SIZE
        assert index.exemplars <= 2 * SIZE
    assert index.forms > SIZE
    unbounded = NarrativeIndex(track_stats=False)
    for n in range(60):
        unbounded.assign(filler(n), unit(n), item_id=f"p{n}")
    assert unbounded.forms == unbounded.exemplars == 60


def test_an_active_narrative_keeps_its_id_and_its_exemplars() -> None:
    index = NarrativeIndex(GEN, track_stats=False)
    founded = index.assign(CAMPAIGN, VEC, item_id="c0")
    for n in range(40):
        index.assign(filler(n), unit(n), item_id=f"p{n}")
        if n % 4 == 3:  # a repeat now and then: every generation sees the campaign
            assert index.assign(CAMPAIGN, VEC, item_id=f"r{n}").narrative_id == founded.narrative_id
    # Eight generations later, a paraphrase still finds it (its exemplar travelled with it).
    joined = index.assign(
        canonical_text("Tonight the true swing state vote totals are being hidden from all"), PARAPHRASE_VEC
    )
    assert (joined.narrative_id, joined.how) == (founded.narrative_id, "paraphrase")
    assert index.assign(EDITED, None).narrative_id == founded.narrative_id


def test_exemplars_survive_when_the_post_that_starts_a_generation_banks_one() -> None:
    # Generations of two: the third near copy starts a new generation and banks its own exemplar; the
    # campaign's first exemplar must still come along, or a paraphrase of the founding post would be lost.
    index = NarrativeIndex(NarrativeConfig(generation_forms=2), track_stats=False)
    founded = index.assign(CAMPAIGN, VEC, item_id="a")
    index.assign(EDITED, unit(20), item_id="e")
    third = canonical_text("They are hiding the real vote counts in three swing states tonight retweet")
    assert index.assign(third, unit(21), item_id="t").narrative_id == founded.narrative_id
    index.assign(third, None, item_id="t2")
    for n in range(2):
        index.assign(filler(n), unit(n), item_id=f"p{n}")
    got = index.assign(
        canonical_text("Tonight the true swing state vote totals are being hidden from all"), PARAPHRASE_VEC
    )
    assert (got.narrative_id, got.how) == (founded.narrative_id, "paraphrase")


def silent_for_two_generations() -> tuple[NarrativeIndex, str]:
    index = NarrativeIndex(GEN, track_stats=False)
    founded = index.assign(CAMPAIGN, VEC, item_id="c0")
    assert index.assign(EDITED, None, item_id="e0").narrative_id == founded.narrative_id
    for n in range(2 * SIZE):
        index.assign(filler(n), unit(n), item_id=f"p{n}")
    assert founded.narrative_id is not None
    return index, founded.narrative_id


def test_a_silent_narrative_is_forgotten() -> None:
    index, founded = silent_for_two_generations()
    edited = index.assign(EDITED, None, item_id="e1")
    assert (edited.how, edited.narrative_id) == ("new", narrative_id_for(copy_form(EDITED)))
    assert edited.narrative_id != founded


def test_a_forgotten_narratives_founding_form_gets_its_id_back() -> None:
    index, founded = silent_for_two_generations()
    assert index.assign(CAMPAIGN, VEC, item_id="c1") == Assignment(founded, "new", 0.0)


def run(
    posts: list[tuple[str, NDArray[np.float32] | None, str]], folder: Path | None, restarts: set[int]
) -> list[tuple[str | None, str, float]]:
    """Assign ``posts``; at each index in ``restarts`` commit (a snapshot every other time) and reload."""
    index = NarrativeIndex(GEN, track_stats=False)
    out: list[tuple[str | None, str, float]] = []
    for i, (text, vec, key) in enumerate(posts):
        if folder is not None and i in restarts:
            index.commit(folder, snapshot_every=1 if i % 2 else 10**9)
            index = NarrativeIndex.load(folder, GEN, track_stats=False)
        a = index.assign(text, vec, item_id=key)
        out.append((a.narrative_id, a.how, a.similarity))
    return out


POOL = [CAMPAIGN, EDITED, *(filler(n) for n in range(12))]


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.booleans()), min_size=1, max_size=40),
    restarts=st.sets(st.integers(0, 39), max_size=6),
)
def test_restarts_answer_as_the_uninterrupted_run(
    picks: list[tuple[int, bool]], restarts: set[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Repeated posts (same key) among new ones, with and without embeddings, across rotations.
    # Texts share one of four vectors, so paraphrase matches (and carried exemplars) decide answers too.
    posts = [(POOL[p], unit(p % 4) if with_vec else None, f"k{p}-{i % 3}") for i, (p, with_vec) in enumerate(picks)]
    assert run(posts, tmp_path_factory.mktemp("state"), restarts) == run(posts, None, set())


def test_a_version_1_state_loads_as_one_generation(tmp_path: Path) -> None:
    old = NarrativeIndex(track_stats=False)
    founded = old.assign(CAMPAIGN, VEC, item_id="c0")
    old.save(tmp_path)
    meta = json.loads((tmp_path / "narratives.json").read_text())
    (gen,) = meta.pop("generations")
    meta.update(gen, version=1)
    with np.load(tmp_path / meta["arrays"]) as arrays:
        np.savez(tmp_path / meta["arrays"], signatures=arrays["signatures_0"], exemplars=arrays["exemplars_0"])
    del meta["config"]["generation_forms"]
    (tmp_path / "narratives.json").write_text(json.dumps(meta))
    loaded = NarrativeIndex.load(tmp_path, GEN, track_stats=False)
    assert loaded.config.generation_forms == SIZE  # the caller's choice wins
    assert loaded.assign(CAMPAIGN, VEC, item_id="c0") == founded
    assert loaded.assign(EDITED, None).narrative_id == founded.narrative_id


def test_generation_forms_must_be_positive() -> None:
    with pytest.raises(ValueError, match="generation_forms"):
        NarrativeIndex(NarrativeConfig(generation_forms=0))


def test_a_snapshot_keeps_the_previous_generation_and_promotion_keeps_first_answers(tmp_path: Path) -> None:
    index = NarrativeIndex(GEN, track_stats=False)
    founded = index.assign(CAMPAIGN, VEC, item_id="c0")
    for n in range(SIZE):
        index.assign(filler(n), unit(n), item_id=f"p{n}")  # the last one starts a new generation
    index.save(tmp_path)
    loaded = NarrativeIndex.load(tmp_path, GEN, track_stats=False)
    assert loaded.forms == SIZE + 1
    repeat = loaded.assign(CAMPAIGN, VEC, item_id="c1")  # held by the previous generation only
    assert (repeat.narrative_id, repeat.how) == (founded.narrative_id, "exact")
    # Copied into the current generation as it first was: the founding post redelivered answers as before.
    assert loaded.assign(CAMPAIGN, VEC, item_id="c0") == founded
