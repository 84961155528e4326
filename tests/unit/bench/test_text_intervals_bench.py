"""The score-interval bench: it counts the posts whose probability lies outside their bin's interval (as many as
the detector's evidence says were widened), and the section shows the rows it measured (a small run on real
data)."""

from __future__ import annotations

from bench.text_intervals import measure_split, render
from flockwatch.config import Settings
from flockwatch.text.data import read_tweepfake
from flockwatch.text.detector import shared_detector


def test_a_small_run_reports_what_it_measured() -> None:
    detector = shared_detector()
    corpus = read_tweepfake(Settings().data_dir, "validation")
    corpus = corpus.subset(list(range(400)))
    rows = measure_split(detector, "dev", corpus)
    assert [r.bucket for r in rows] == [b.words_label() for b in detector.buckets]
    assert sum(r.posts for r in rows) <= 400 and sum(r.posts for r in rows) > 350
    results = detector.score(corpus.raw, with_evidence=False)
    widened = sum(
        "widened to reach the model's" in next(e.detail for e in r.evidence if e.signal == "model.uncertainty")
        for r in results
        if r.interval is not None
    )
    assert sum(r.widened for r in rows) == widened > 0
    assert all(r.stated_width >= r.bin_width > 0 for r in rows)
    body = render(detector.name, rows)
    r = rows[-1]
    assert f"| dev | {r.bucket} | {r.posts} | {r.widened} ({r.widened / r.posts:.0%}) | {r.bin_width:.3f} |" in body
