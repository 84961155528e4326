"""Fusion and the scorer: provenance and bank facts outrank learned priors; broken inputs never raise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from flockwatch.media.errors import MediaRefused
from flockwatch.media.fusion import fuse, ranked
from flockwatch.media.score import MediaScorer
from flockwatch.media.signal import Finding, MediaFile, Tier


def f(name: str, score: float | None, tier: Tier) -> Finding:
    return Finding(name, score, f"{name} says {score}", tier)


def test_manipulation_fact_decides() -> None:
    score, rule = fuse([f("detector", 0.1, Tier.learned), f("c2pa", 0.97, Tier.provenance)])
    assert score == 0.97 and rule == "provenance fact: c2pa"


def test_authenticity_fact_outranks_a_confident_detector() -> None:
    score, rule = fuse([f("detector", 0.95, Tier.learned), f("c2pa", 0.1, Tier.provenance)])
    assert score == 0.1 and "outranks learned priors" in rule


def test_known_fake_match_beats_authentic_looking_detectors() -> None:
    findings = [f("bank", 0.95, Tier.match), f("detector", 0.05, Tier.learned), f("c2pa", None, Tier.provenance)]
    assert fuse(findings) == (0.95, "match fact: bank")


def test_higher_tier_wins_among_alarming_facts() -> None:
    assert fuse([f("bank", 0.99, Tier.match), f("c2pa", 0.9, Tier.provenance)])[0] == 0.9


def test_learned_priors_alone_take_the_maximum() -> None:
    assert fuse([f("a", 0.3, Tier.learned), f("b", 0.7, Tier.learned)]) == (0.7, "learned prior: b")


def test_observations_and_nothing_give_no_score() -> None:
    assert fuse([])[0] is None
    assert fuse([f("c2pa", None, Tier.provenance)])[0] is None


def test_ranked_puts_strong_tiers_first_and_observations_last_within_a_tier() -> None:
    order = ranked([f("a", 0.9, Tier.learned), f("c", None, Tier.provenance), f("b", 0.5, Tier.provenance)])
    assert [x.signal for x in order] == ["b", "c", "a"]


@dataclass
class Fixed:
    name: str
    result: Finding | Exception | None
    kinds: tuple[str, ...] = ("image",)
    tier: Tier = Tier.learned

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in self.kinds

    def compute(self, media: MediaFile) -> Finding | None:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "x.jpg"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
    return path


def test_scorer_keeps_going_past_broken_signals(jpeg: Path) -> None:
    scorer = MediaScorer(
        [
            Fixed("refuses", MediaRefused("no audio stream")),
            Fixed("crashes", RuntimeError("bug")),
            Fixed("video_only", f("video_only", 1.0, Tier.learned), kinds=("video",)),
            Fixed("works", f("works", 0.4, Tier.learned)),
        ],
        local_files=True,
    )
    result = scorer.score(str(jpeg))
    assert result.manipulation_score == 0.4 and result.error is None
    assert result.skipped == {"refuses": "no audio stream", "crashes": "failed: RuntimeError: bug"}
    line = result.to_json()
    assert {"path", "manipulation_score", "provenance", "matches", "signals"} <= set(line)
    assert line["signals"] == [{"name": "works", "score": 0.4, "evidence": "works says 0.4", "tier": "learned"}]


def test_scorer_reports_refusals_as_errors(tmp_path: Path) -> None:
    svg = tmp_path / "logo.jpg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    scorer = MediaScorer([Fixed("works", f("works", 0.4, Tier.learned))], local_files=True)
    for target, reason in ((str(svg), "markup"), ("http://example.com/a.jpg", "fetching is disabled")):
        result = scorer.score(target)
        assert result.manipulation_score is None and result.error is not None and reason in result.error
        assert result.to_json()["error"] == result.error


def test_every_applicable_signal_refusing_is_an_error(jpeg: Path) -> None:
    result = MediaScorer([Fixed("a", MediaRefused("undecodable image: truncated"))], local_files=True).score(str(jpeg))
    assert result.manipulation_score is None and result.error == "a: undecodable image: truncated"


def test_bombs_and_truncated_images_are_refused_before_any_signal(tmp_path: Path) -> None:
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (8000, 8000)).save(bomb)  # 64 MP of one colour: tiny on disk, over the 50 MP cap
    good = tmp_path / "good.jpg"
    Image.effect_noise((256, 256), 60).convert("RGB").save(good, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    calls: list[str] = []

    @dataclass
    class Spy(Fixed):
        def compute(self, media: MediaFile) -> Finding | None:
            calls.append(media.path.name)
            return super().compute(media)

    scorer = MediaScorer([Spy("c2pa", f("c2pa", None, Tier.provenance), tier=Tier.provenance)], local_files=True)
    for path, reason in ((bomb, "decompression bomb"), (truncated, "undecodable image")):
        result = scorer.score(str(path))
        assert result.manipulation_score is None and result.error is not None and reason in result.error, result
        assert result.sha256 is not None and result.kind == "image"
    assert calls == []
    assert scorer.score(str(good)).error is None and calls == ["good.jpg"]
