"""Who spread a cascade: each resharer's record on cascades an analyst (or a labelled dataset) already judged.

The spread score (:mod:`flockwatch.graph.cascade_risk`) reads how a cascade spread; this reads who spread it, the
user-side signal of rumour-detection work such as Liu & Wu (2018), "Early detection of fake news on social media
through propagation path classification with recurrent and convolutional networks", AAAI, and Castillo, Mendoza &
Poblete (2011), "Information credibility on Twitter", WWW. Here it is a count, not a model:

* an account's **record** over the judged cascades it reshared: ``flagged`` (judged false / rumour) of ``seen``;
* its **share** ``s(a) = (flagged + 1/2) / (seen + 1)``, add-one smoothed toward 1/2, so one judged cascade moves an
  account only to 1/4 or 3/4;
* a cascade's **history score** ``h = mean(s(a))`` over its resharers with a record (``1/2`` when none has one,
  which the fusion in ``cascade_risk`` reads as no evidence: ``logit(1/2) = 0``).

A history comes from the deployment's own judgements (``flockwatch graph history``), never from the repository:
the committed risk model carries only how to weigh it. It says nothing about accounts it has not seen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flockwatch.graph.cascades import Tree as CascadeTree

FORMAT = "flockwatch.account_history/1"
# Dataset labels -> flagged (1) or not (0); any other label (unverified, unknown) teaches nothing.
LABELS = {"false": 1.0, "rumor": 1.0, "rumour": 1.0, "true": 0.0, "non-rumor": 0.0, "non-rumour": 0.0}
SHOWN = 5  # flagged resharers named in the evidence
HISTORY_FIELDS = ("resharer_history", "early_resharer_history")  # where a cascade record keeps the evidence


def resharers(tree: CascadeTree) -> set[str]:
    """The accounts that reshared (the root's author is not a resharer of their own post)."""
    return {u for u in tree.user[1:] if u}


@dataclass
class AccountHistory:
    """``account -> [flagged, seen]`` over judged cascades, the judged cascades' verdicts (so a cascade is never
    scored on its own) and a line per source it was learnt from."""

    records: dict[str, list[int]] = field(default_factory=dict)
    judged: dict[str, bool] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def add(self, cascade_id: str, flagged: bool, accounts: Iterable[str]) -> None:
        """Count one judged cascade for each of its resharers (a cascade judged twice: :class:`ValueError`)."""
        if cascade_id in self.judged:
            raise ValueError(f"cascade {cascade_id!r} is judged twice")
        self.judged[cascade_id] = flagged
        for a in accounts:
            record = self.records.setdefault(a, [0, 0])
            record[0] += int(flagged)
            record[1] += 1

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "sources": self.sources, "judged": self.judged,
                           "records": self.records}, separators=(",", ":"), sort_keys=True)  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountHistory:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (format {data.get('format')!r})")
        records = {str(a): [int(r[0]), int(r[1])] for a, r in data["records"].items()}
        if any(not 0 <= f <= n for f, n in records.values()):
            raise ValueError("a record's flagged count must lie between 0 and its seen count")
        judged = {str(c): bool(v) for c, v in data["judged"].items()}
        return cls(records, judged, [str(s) for s in data.get("sources", [])])

    @classmethod
    def load(cls, path: Path | str) -> AccountHistory:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class HistoryEvidence:
    """A cascade's history score and what it rests on."""

    score: float
    resharers: int
    known: int
    flagged: list[dict[str, Any]]  # the resharers with the worst records: account, flagged, seen

    @property
    def log_odds(self) -> float:
        p = min(max(self.score, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))

    def to_dict(self) -> dict[str, Any]:
        out = {"score": round(self.score, 4), "resharers": self.resharers, "known_resharers": self.known,
               "flagged_resharers": self.flagged}  # fmt: skip
        return out | {"explanation": explain(out)}


def explain(evidence: Mapping[str, Any]) -> str:
    """One sentence for an analyst, from a :meth:`HistoryEvidence.to_dict` (so a renamed copy re-renders)."""
    resharers, known = evidence["resharers"], evidence["known_resharers"]
    if not known:
        return f"none of its {resharers} resharers reshared a judged cascade before: no history evidence"
    worst = ", ".join(f"{f['account']} ({f['flagged']} of {f['seen']})" for f in evidence["flagged_resharers"])
    return (f"{known} of its {resharers} resharers reshared judged cascades; their mean smoothed false share is "
            f"{evidence['score']:.2f}" + (f"; flagged most: {worst}" if worst else ""))  # fmt: skip


def renamed(evidence: Mapping[str, Any], name: Callable[[str], str]) -> dict[str, Any]:
    """The evidence with every account shown as ``name`` gives it (a pseudonym for researchers)."""
    flagged = [{**f, "account": name(str(f["account"]))} for f in evidence.get("flagged_resharers") or []]
    out = {**evidence, "flagged_resharers": flagged}
    return out | {"explanation": explain(out)} if "resharers" in out and "known_resharers" in out else out


def with_history_renamed(doc: dict[str, Any], name: Callable[[str], str]) -> dict[str, Any]:
    """``doc`` (a cascade record, changed in place) with the accounts its history evidence names shown by ``name``."""
    for key in HISTORY_FIELDS:
        if isinstance(doc.get(key), Mapping):
            doc[key] = renamed(doc[key], name)
    return doc


def history_evidence(
    history: AccountHistory, accounts: Iterable[str], cascade_id: str | None = None
) -> HistoryEvidence:
    """The mean share over the accounts with a record (1/2 when none has one), and the worst records.

    When ``cascade_id`` is one the history judged, its own verdict is taken out of its resharers' records first
    (leave-one-out), so a cascade never scores on its own label. That is exact when the cascade has the resharers
    it had when judged; an account whose only judged cascade is this one counts as unseen."""
    own = history.judged.get(cascade_id) if cascade_id is not None else None
    records: dict[str, tuple[int, int]] = {}
    for a in set(accounts):
        record = history.records.get(a)
        if record is None:
            continue
        f, n = record
        if own is not None:
            f, n = max(0, f - int(own)), n - 1
        if n > 0:
            records[a] = (min(f, n), n)
    share = {a: (f + 0.5) / (n + 1) for a, (f, n) in records.items()}
    score = math.fsum(share.values()) / len(share) if share else 0.5  # fsum: exact, so set order cannot matter
    worst = sorted(share, key=lambda a: (-share[a], a))[:SHOWN]
    flagged = [{"account": a, "flagged": records[a][0], "seen": records[a][1]} for a in worst if records[a][0]]
    return HistoryEvidence(score, len(set(accounts)), len(share), flagged)


def learn(judged: Iterable[tuple[str, bool, Iterable[str]]], source: str) -> AccountHistory:
    """A history from ``(cascade id, flagged, resharers)``, one per judged cascade."""
    history = AccountHistory(sources=[source])
    for cascade_id, flagged, accounts in judged:
        history.add(cascade_id, flagged, accounts)
    return history
