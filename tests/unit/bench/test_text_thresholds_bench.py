"""The thresholds bench: populations come from the replay readers, halves are disjoint, the machine tweets are
ones the model never trained on, and the section shows the rows the run measured (a small run on real data)."""

from __future__ import annotations

from bench.text_thresholds import POPULATIONS, _half, measure, population_texts, render, unseen_machine_texts
from flockwatch.config import Settings
from flockwatch.training.text import load_corpora


def test_populations_are_original_posts_and_machine_tweets_are_unseen() -> None:
    settings = Settings()
    for name in POPULATIONS:
        posts = list(population_texts(name, 50, settings))
        assert len(posts) == 50 and all(text for _, text in posts)
        assert len({k for k, _ in posts}) == 50
        assert {_half(k) for k, _ in posts} == {0, 1}
    machine = unseen_machine_texts(settings, 200)
    train, _, _ = load_corpora(settings.data_dir)
    assert len(machine) == 200 and not set(machine) & set(train.raw)


def test_a_small_run_reports_what_it_measured() -> None:
    rows, n_machine = measure(limit=400, most_machine=200)
    assert n_machine <= 200 and len(rows) == 2 * len(POPULATIONS)
    for r in rows:
        assert r.n_a + r.n_b <= 400 and r.n_a >= 100
        assert 0 <= r.picked_fpr_b <= 1
        # Re-picked lower than stored flags at least as much machine text, and the other way round.
        assert (r.tpr_picked >= r.tpr_stored) == (r.picked <= r.stored) or r.tpr_picked == r.tpr_stored
    body = render(rows, n_machine, 400)
    r = rows[0]
    assert f"| {r.population} | {r.n_a} / {r.n_b} | 1% | {r.stored_fpr_b:.3f} (at {r.stored:.3f}) |" in body
