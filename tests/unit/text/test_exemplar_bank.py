from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flockwatch.text.exemplar_bank import ExemplarBank
from flockwatch.text.narratives import DIM, NarrativeConfig, NarrativeIndex

rng = np.random.default_rng(7)


def unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=-1, keepdims=True), dtype=np.float32)


BANK = unit(rng.standard_normal((3000, DIM)))
# Paraphrase-like queries: an exemplar moved to cosine ~0.9, and unrelated ones.
NEAR = unit(BANK[:300] + 0.025 * rng.standard_normal((300, DIM)))
FAR = unit(rng.standard_normal((300, DIM)))


def filled(kind: str) -> ExemplarBank:
    bank = ExemplarBank(DIM, kind)  # type: ignore[arg-type]
    for i, vec in enumerate(BANK):
        bank.add(f"n{i}", vec)
    return bank


def test_hnsw_finds_what_exact_search_finds() -> None:
    hnsw, flat = filled("hnsw"), filled("flat")
    assert len(hnsw) == len(flat) == len(BANK)
    for q in NEAR:
        got, want = hnsw.nearest(q), flat.nearest(q)
        assert got is not None and want is not None
        assert got[0] == want[0] and got[1] == pytest.approx(want[1], abs=1e-5)
        assert want[1] > 0.86
    # Unrelated queries: HNSW may return another neighbour, never one nearer than the true nearest.
    for q in FAR:
        got, want = hnsw.nearest(q), flat.nearest(q)
        assert got is not None and want is not None and got[1] <= want[1] + 1e-5


def test_empty_bank_and_bad_kind() -> None:
    assert ExemplarBank(DIM).nearest(FAR[0]) is None
    assert ExemplarBank(DIM).vectors().shape == (0, DIM)
    with pytest.raises(ValueError, match="exemplar bank kind"):
        ExemplarBank(DIM, "annoy")  # type: ignore[arg-type]


def test_vectors_come_back_in_the_order_added() -> None:
    bank = filled("hnsw")
    assert np.array_equal(bank.vectors(), BANK)


def test_the_same_adds_answer_the_same_and_a_restart_answers_as_the_uninterrupted_run(tmp_path: Path) -> None:
    """Same adds → same graph → same answers; the saved vectors re-added after a restart rebuild that graph."""
    words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=6)) for _ in range(400)]
    texts = [" ".join(rng.choice(words, size=8)) for _ in range(600)]
    vecs = unit(np.concatenate([BANK[:300], BANK[:300] + 0.02 * rng.standard_normal((300, DIM))]))
    config = NarrativeConfig(cosine=0.8)

    def run(index: NarrativeIndex, rows: range) -> list[tuple[str | None, str, float]]:
        got = [index.assign(texts[i], vecs[i], item_id=f"p{i}") for i in rows]
        return [(a.narrative_id, a.how, a.similarity) for a in got]

    uninterrupted = NarrativeIndex(config)
    first = run(uninterrupted, range(600))
    assert run(NarrativeIndex(config), range(600)) == first
    assert sum(how == "paraphrase" for _, how, _ in first) > 200

    resumed = NarrativeIndex(config)
    head = run(resumed, range(300))
    resumed.commit(tmp_path)
    assert head + run(NarrativeIndex.load(tmp_path, config), range(300, 600)) == first
