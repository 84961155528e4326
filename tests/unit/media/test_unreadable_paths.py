"""A path the OS will not open (a name too long, a permission denied) is a refusal of that item, not an OSError."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from flockwatch.media.errors import MediaRefused
from flockwatch.media.score import MediaScorer
from flockwatch.media.signal import Finding, MediaFile, Tier
from flockwatch.media.sniff import open_media


class _Seen:
    name = "seen"
    tier = Tier.learned

    def applies_to(self, media: MediaFile) -> bool:
        return True

    def compute(self, media: MediaFile) -> Finding:
        return Finding.scored(self.name, 0.3, "seen", self.tier)


def test_a_name_too_long_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaRefused, match=r"^unreadable file: File name too long$"):
        open_media(tmp_path / ("a" * 300 + ".jpg"))


def test_a_read_error_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (4, 4)).save(path)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # Tests run as root, where chmod cannot deny a read.
    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(MediaRefused, match=r"^unreadable file: Permission denied$"):
        open_media(path)


def test_the_scorer_refuses_the_bad_path_and_scores_the_next(tmp_path: Path) -> None:
    good = tmp_path / "ok.png"
    Image.new("RGB", (4, 4)).save(good)
    scorer = MediaScorer([_Seen()], local_files=True)
    bad, ok = scorer.score(str(tmp_path / ("b" * 300))), scorer.score(str(good))
    assert bad.decided_by == "refused" and bad.error == "unreadable file: File name too long"
    assert ok.error is None and ok.manipulation_score == 0.3
