"""The cloned-voice card and its evaluation: no drift, splits disjoint as claimed, metrics computed as stated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flockwatch.config import Settings
from flockwatch.media import audio_features as af
from flockwatch.media.sniff import open_media
from flockwatch.media.voice_clone import DEFAULT_MODEL_DIR, VoiceCloneSignal, clip_windows, load_model
from flockwatch.metrics import auroc_pos_neg
from flockwatch.model_card import read_block
from flockwatch.training import voice as tv
from tests.unit.media.test_voice_clone import speechlike, wav

CARD = DEFAULT_MODEL_DIR / "MODEL_CARD.md"
DATA = Settings().data_dir


def committed_metrics() -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())
    return metrics


def test_card_blocks_match_committed_metrics() -> None:
    blocks = tv.render_card_blocks(committed_metrics())
    assert set(blocks) == {"splits", "evaluation", "clips", "settings"}
    for name, body in blocks.items():
        assert read_block(CARD, name) == body, f"block {name!r} drifted; rerun `{tv.COMMAND}`"


def test_committed_model_and_settings_agree_with_metrics() -> None:
    metrics = committed_metrics()
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert meta["threshold_fpr_0.05"] == metrics["shipped"]["threshold"] == load_model().threshold
    assert meta["seed"] == metrics["seed"]
    assert meta["librispeech_split"] == {
        k: tv.by_speaker_id(v["librispeech_speakers"]) for k, v in metrics["split"].items()
    }
    # The settings block states what the code does now, not what it did when trained.
    assert metrics["settings"] == tv.settings()


def real_split(seed: int) -> tuple[list[tv.Source], dict[str, list[str]]]:
    sources = tv.list_clips(DATA)
    sex = tv.speaker_sex(DATA, {s.speaker for s in sources if s.group == "librispeech"})
    return sources, tv.speaker_split(sex, seed)


def test_committed_splits_are_disjoint_as_the_card_claims() -> None:
    metrics = committed_metrics()
    sources, split = real_split(metrics["seed"])
    assert split == {k: tv.by_speaker_id(v["librispeech_speakers"]) for k, v in metrics["split"].items()}
    sets = {k: set(v) for k, v in split.items()}
    assert all(sets.values()) and sum(map(len, sets.values())) == len(set().union(*sets.values()))
    libri = {s.speaker for s in sources if s.group == "librispeech"}
    assert set().union(*sets.values()) == libri and len(libri) == 10
    # Stratified by sex: the calibration and report speakers are not all of one sex.
    sex = tv.speaker_sex(DATA, libri)
    assert all({sex[s] for s in sets[k]} == {"F", "M"} for k in ("calibration", "report"))
    clips = {k: {s.name for s in sources if s.speaker in v} for k, v in sets.items()}
    assert not (clips["train"] & clips["calibration"]) and not (clips["train"] & clips["report"])
    assert not (clips["calibration"] & clips["report"])
    # What was scored for the threshold and the report is exactly the calibration and report clips ...
    assert set(metrics["shipped_scores"]) == clips["calibration"] | clips["report"]
    assert metrics["shipped"]["n_report"] == len(clips["report"]) == metrics["split"]["report"]["librispeech_clips"]
    # ... and every Trump clip was held out once (one fold each).
    assert set(metrics["held_out_folds"]) == {s.name for s in sources if s.group == "trump"}


def test_the_seed_draws_the_split() -> None:
    sex = {str(i): "F" if i % 2 else "M" for i in range(10)}
    assert tv.speaker_split(sex, 0) == tv.speaker_split(sex, 0)
    assert any(tv.speaker_split(sex, s) != tv.speaker_split(sex, 0) for s in (1, 2, 3))
    with pytest.raises(ValueError):
        tv.speaker_split({"1": "F", "2": "M"}, 0)


def test_threshold_and_rates() -> None:
    neg = [i / 20 for i in range(20)]  # 0.00 .. 0.95
    t = tv.threshold_at_fpr(neg, 0.05)
    assert tv.rate_at(neg, t) == 0.05 and 0.90 < t < 0.95  # one of twenty may sit above
    assert tv.rate_at(neg, tv.threshold_at_fpr(neg, 0.0)) == 0.0
    assert tv.rate_at([0.1, float("nan"), 0.9], 0.5) == 0.5


def fixture_clips(seed: int = 0) -> list[tv.Clip]:
    """Clips with made-up window features: clones shifted on the first feature, 6 LibriSpeech speakers."""
    rng = np.random.default_rng(seed)

    def clip(name: str, label: int, group: str, speaker: str, shift: float) -> tv.Clip:
        w = rng.standard_normal((6, af.WINDOW_FEATURES))
        w[:, 0] += shift
        return tv.Clip(name, label, group, speaker, w, 9.0)

    out = [clip(f"donald_trump/real/{i}.mp3", 0, "trump", "donald_trump", 0.0) for i in range(4)]
    out += [clip(f"donald_trump/fake/{i}.mp3", 1, "trump", "donald_trump", 6.0) for i in range(3)]
    out += [clip(f"libri/{s}/{i}.flac", 0, "librispeech", str(s), 0.5 * (s % 3)) for s in range(6) for i in range(4)]
    return out


def test_held_out_folds_never_see_their_clip_or_the_other_splits() -> None:
    clips = fixture_clips()
    split = {"train": ["0", "1"], "calibration": ["2", "3"], "report": ["4", "5"]}
    folds = tv.held_out(clips, split)
    trump = [c for c in clips if c.group == "trump"]
    assert set(folds) == {c.name for c in trump}
    # Refit one fold by hand from the split definition: same threshold, score and report FPR.
    held = trump[-1]
    params = tv.fit([c for c in trump if c is not held] + tv.in_split(clips, split, "train"))
    cal = [tv.clip_score(params, c.windows) for c in tv.in_split(clips, split, "calibration")]
    rep = [tv.clip_score(params, c.windows) for c in tv.in_split(clips, split, "report")]
    fold = folds[held.name]
    assert fold["threshold"] == tv.threshold_at_fpr(cal)
    assert fold["scores"]["clean"] == tv.clip_score(params, held.windows)
    assert fold["fpr_report"] == tv.rate_at(rep, fold["threshold"])
    assert fold["auroc_vs_report"]["clean"] == auroc_pos_neg([fold["scores"]["clean"]], rep)
    # The summary is what its names say, computed from the folds.
    s = tv.summarise_held_out(folds)
    fake = [f for f in folds.values() if f["label"] == 1]
    real = [f for f in folds.values() if f["label"] == 0]
    assert s["tpr_clone"] == np.mean([f["scores"]["clean"] >= f["threshold"] for f in fake])
    assert s["fpr_trump_real"] == np.mean([f["scores"]["clean"] >= f["threshold"] for f in real])
    assert s["auroc_clone_vs_trump_real"] == auroc_pos_neg(
        [f["scores"]["clean"] for f in fake], [f["scores"]["clean"] for f in real]
    )
    assert s["fpr_report_librispeech"] == pytest.approx(np.mean([f["fpr_report"] for f in folds.values()]))
    assert (s["n_clone"], s["n_trump_real"], s["n_folds"]) == (3, 4, 7)
    # Clones differ on a feature the fit can see: the folds should find them.
    assert s["auroc_clone_vs_trump_real"] > 0.9


class FirstFeature:
    """A stand-in model: a window's score is its first feature."""

    def window_scores(self, windows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray(windows[:, 0], dtype=np.float64)


def test_shipped_figures_threshold_on_calibration_and_report_on_report() -> None:
    clips = fixture_clips()
    split = {"train": ["0", "1"], "calibration": ["2", "3"], "report": ["4", "5"]}
    figures, scores = tv.shipped_figures(FirstFeature(), clips, split)
    cal = [float(np.mean(c.windows[:, 0])) for c in tv.in_split(clips, split, "calibration")]
    rep = [float(np.mean(c.windows[:, 0])) for c in tv.in_split(clips, split, "report")]
    assert set(scores) == {
        c.name for c in tv.in_split(clips, split, "calibration") + tv.in_split(clips, split, "report")
    }
    assert figures["threshold"] == tv.threshold_at_fpr(cal)
    assert figures["fpr_report_librispeech"] == np.mean(np.asarray(rep) >= figures["threshold"])
    assert figures["fpr_report_librispeech_raw_0.5"] == np.mean(np.asarray(rep) >= 0.5)
    assert (figures["n_calibration"], figures["n_report"]) == (8, 8)
    flagged = figures["flagged_report_by_speaker"]
    assert set(flagged) == {"4", "5"} and sum(k for k, _ in flagged.values()) == round(
        8 * figures["fpr_report_librispeech"]
    )


def test_evaluation_scores_what_the_signal_scores(tmp_path: Path) -> None:
    """The evaluation's clip score (features by ``clip_windows``) is the signal's ``raw_score``."""
    x = speechlike(8.0, seed=3)
    path = wav(tmp_path, x)
    # The samples as the WAV holds them (16-bit) and as the decoder returns them.
    x16 = np.asarray((np.clip(x, -1, 1) * 32767).astype(np.int16) / 32768, dtype=np.float32)
    model = load_model()
    found = clip_windows(x16, tv.NEUTRAL_KBPS)
    assert found is not None
    windows, starts = found
    assert windows.shape == (len(starts), af.WINDOW_FEATURES) and len(starts) == 4
    finding = VoiceCloneSignal().compute(open_media(path))
    assert finding is not None
    assert finding.data["raw_score"] == round(tv.clip_score(model, windows), 4)
    assert len(finding.data["window_scores"]) == len(starts)
