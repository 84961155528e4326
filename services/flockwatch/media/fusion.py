"""Fusion: one manipulation score for a media file, from the findings of its signals.

Provenance (C2PA, generator metadata) and bank matches are facts about *this* file; learned
detectors are priors that generalise imperfectly. So the highest tier that has something to say
decides, and lower tiers only appear as evidence:

1. any fact (tier ≥ match) saying "manipulated" (score ≥ 0.5) → the strongest such fact;
2. else facts saying "authentic" (score < 0.5) → the most confident of them (the lowest score);
   a learned prior cannot override a trusted capture manifest or a match to fact-checked real media;
3. else the learned detectors alone → their maximum (each is a calibrated probability for its own
   kind of manipulation: a face swap and a cloned voice are different claims, either suffices).

Observations (``score=None``) never count. No scored finding gives ``None``: the file was not scored,
which is not the same as "looks real".
"""

from __future__ import annotations

from collections.abc import Sequence

from flockwatch.media.signal import Finding, Tier

MANIPULATED = 0.5


def fuse(findings: Sequence[Finding]) -> tuple[float | None, str]:
    """(score, which rule decided) for the findings of one file."""
    scored = [(f, f.score) for f in findings if f.score is not None]
    if not scored:
        return None, "no signal scored the file"
    facts = [(f, s) for f, s in scored if f.tier >= Tier.match]
    alarming = [(f, s) for f, s in facts if s >= MANIPULATED]
    if alarming:
        top, score = max(alarming, key=lambda fs: (fs[0].tier, fs[1]))
        return score, f"{top.tier.name} fact: {top.signal}"
    if facts:
        top, score = max(facts, key=lambda fs: (fs[0].tier, -fs[1]))
        return score, f"{top.tier.name} fact: {top.signal} (outranks learned priors)"
    top, score = max(scored, key=lambda fs: fs[1])
    return score, f"learned prior: {top.signal}"


def ranked(findings: Sequence[Finding]) -> list[Finding]:
    """Evidence in the order an analyst should read it: strongest tier first, then score."""
    return sorted(findings, key=lambda f: (-f.tier, -(f.score if f.score is not None else -1.0), f.signal))
