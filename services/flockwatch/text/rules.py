"""Rule signals: phrases that give machine-written text away (LLM artefacts, self-disclosure, refusals).

Every signal follows one small contract (after python-threatexchange's signal types): a ``name``,
``applies_to`` (is this signal meaningful for this text?), ``compute`` (a score in 0..1, or ``None``
when it does not fire) and ``explain`` (one line an analyst can quote). Rules look at the text as a reader
sees it (:func:`~flockwatch.text.canonical.visible_text`: links and mentions as posted, but no zero-width or
other invisible characters, full-width letters and curly apostrophes folded, line breaks as spaces), so a
character nobody sees cannot hide a phrase.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

from flockwatch.schema import Evidence
from flockwatch.text.canonical import visible_text


@dataclass(frozen=True)
class TextInput:
    """What every signal sees: the text as posted (decoded) and its normalised form."""

    raw: str
    normalized: str

    @cached_property
    def visible(self) -> str:
        """The text as a reader sees it (what the phrase rules match)."""
        return visible_text(self.raw)


@runtime_checkable
class TextSignal(Protocol):
    name: str

    def applies_to(self, doc: TextInput) -> bool: ...

    def compute(self, doc: TextInput) -> float | None: ...

    def explain(self, doc: TextInput, score: float) -> str: ...


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    score: float
    what: str


def _p(regex: str, score: float, what: str) -> Phrase:
    return Phrase(re.compile(regex, re.IGNORECASE), score, what)


@dataclass
class PhraseRule:
    """Fires with the highest score among its phrases found in the text; explains the first such match."""

    name: str
    phrases: Sequence[Phrase]
    min_chars: int = 8

    def applies_to(self, doc: TextInput) -> bool:
        return len(doc.visible) >= self.min_chars

    def _best(self, doc: TextInput) -> tuple[Phrase, str] | None:
        best: tuple[Phrase, str] | None = None
        for phrase in self.phrases:
            m = phrase.pattern.search(doc.visible)
            if m and (best is None or phrase.score > best[0].score):
                best = (phrase, m.group(0))
        return best

    def compute(self, doc: TextInput) -> float | None:
        best = self._best(doc)
        return best[0].score if best else None

    def explain(self, doc: TextInput, score: float) -> str:
        best = self._best(doc)
        if best is None:
            return f"{self.name}: no match"
        phrase, matched = best
        return f"{phrase.what}: {matched.strip()[:120]!r}"


_AI = r"an? (?:ai (?:language )?model|(?:large )?language model|ai assistant|ai chat ?bot|ai\s*,\s*i\b)"

LLM_ARTEFACTS = PhraseRule(
    "rule.llm_artefact",
    [
        _p(rf"\bas {_AI}\b", 0.97, "LLM self-reference"),
        _p(r"\bas of my (?:last )?(?:knowledge )?(?:update|cutoff|training)\b", 0.95, "training-cutoff phrase"),
        _p(r"\bmy (?:knowledge|training) (?:cutoff|cut-off|data)\b", 0.9, "training-cutoff phrase"),
        _p(r"\bregenerate response\b", 0.95, "chat UI text pasted along"),
        _p(r"\[(?:your|insert|add|company|brand|name of)[^\]]{0,40}\]", 0.9, "unfilled template placeholder"),
        _p(r"^\s*(?:certainly|sure|absolutely|of course)[!,.]\s+here(?:'s| is| are)\b", 0.9, "assistant preamble"),
        _p(
            r"\bhere(?:'s| is| are) (?:a|an|some|your|\d+) (?:\w+ ){0,3}(?:tweets?|posts?|captions?)\b",
            0.85,
            "assistant preamble",
        ),
        _p(r"^\s*(?:tweet|post|option|variation) ?(?:\d+|#\d+)\s*[:.)-]", 0.7, "numbered generation label"),
        _p(r"\((?:\d+|under \d+) characters?\)|character count:", 0.85, "length bookkeeping from a prompt"),
        _p(r"\bi hope this (?:tweet|post) (?:helps|captures|meets)\b", 0.9, "assistant sign-off"),
    ],
)

SELF_DISCLOSURE = PhraseRule(
    "rule.self_disclosure",
    [
        _p(
            r"\b(?:this|the) (?:tweet|post|text|thread|reply|message) (?:was|is|has been) (?:\w+ )?"
            r"(?:written|generated|created|produced|composed) (?:by|with|using) "
            r"(?:an? )?(?:ai|chat ?gpt|gpt-?\d|claude|gemini|llama|bot)\b",
            0.95,
            "says it was machine-written",
        ),
        _p(r"#(?:ai ?generated|generatedbyai|writtenbyai|chatgpt ?generated)\b", 0.85, "AI-generated hashtag"),
        _p(
            r"\bi(?:'m| am) (?:just |only )?(?:a |an )?(?:bot|ai|automated account|language model)\b",
            0.9,
            "first-person disclosure",
        ),
        _p(r"\b(?:generated|written|posted) (?:automatically|by (?:a|an) (?:bot|ai))\b", 0.85, "automation disclosure"),
    ],
)

REFUSAL = PhraseRule(
    "rule.refusal",
    [
        _p(
            r"\bi(?:'m| am) sorry,? (?:but )?i (?:can(?:'t|not)|am unable to|won't|am not able to)\b",
            0.97,
            "refusal boilerplate",
        ),
        _p(
            r"\bi (?:can(?:'t|not)|am unable to|won't) (?:fulfil+|comply with|assist with|help with|generate|create"
            r"|write|provide) (?:that|this|your|such|content|a tweet|tweets)\b",
            0.95,
            "refusal boilerplate",
        ),
        _p(
            r"\b(?:violates?|against) (?:my|openai's|the) (?:guidelines|policies|content polic(?:y|ies)|use case polic"
            r"(?:y|ies)|programming)\b",
            0.95,
            "policy refusal",
        ),
        _p(r"\bit(?:'s| is|would be) (?:not appropriate|inappropriate) (?:for me )?to\b", 0.8, "refusal hedging"),
    ],
)

RULES: tuple[PhraseRule, ...] = (LLM_ARTEFACTS, SELF_DISCLOSURE, REFUSAL)


def run_signals(doc: TextInput, signals: Sequence[TextSignal] = RULES) -> list[Evidence]:
    """Evidence for every signal that applies and fires."""
    found = []
    for signal in signals:
        if not signal.applies_to(doc):
            continue
        score = signal.compute(doc)
        if score is None:
            continue
        found.append(Evidence(signal=signal.name, score=score, on="text", detail=signal.explain(doc, score)))
    return found
