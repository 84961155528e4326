"""What a bank label claims about the banked media: shared by bank matching and the alert rules."""

from __future__ import annotations

# Labels that say "this is a known fake": a match is strong evidence of manipulation.
FAKE_LABELS = frozenset({"known_fake", "fake", "manipulated", "synthetic", "deepfake", "fact_checked_fake"})
# Labels that say "this is real": a match argues against manipulation.
REAL_LABELS = frozenset({"authentic", "fact_checked_real", "real", "original"})


def is_known_fake_match(match: dict[str, object]) -> bool:
    """A bank match that counts as "known fake media" (unlabelled matches count: banks hold fakes by default)."""
    label = match.get("label")
    return label is None or label in FAKE_LABELS
